#[test]
#[ignore]
fn devcheck() {
    let dir = std::env::var("DEV_TXT").unwrap();
    let mut pages = Vec::new();
    for n in 1..=13 {
        let text = std::fs::read_to_string(format!("{dir}/page-{n:02}.txt")).unwrap();
        pages.push((n as i64, super::offline::extract(&text)));
    }
    let topics = super::finalize(super::assemble(&pages));
    println!("{}", serde_json::to_string_pretty(&topics).unwrap());
    let truth: super::score::Truth = serde_json::from_str(
        &std::fs::read_to_string("/work/shared/data/openstax-python/truth.json").unwrap(),
    )
    .unwrap();
    let s = super::score::score(&topics, &truth, Some(1..=13));
    println!("{s}");
    for m in &s.missed {
        println!("  {m}");
    }
}

#[test]
#[ignore]
fn devcheck_fractions() {
    let mut pages = Vec::new();
    for n in 1..=8 {
        let text =
            std::fs::read_to_string(format!("/work/shared/data/textbook/page-{n:02}.txt")).unwrap();
        pages.push((n as i64, super::offline::extract(&text)));
    }
    let topics = super::finalize(super::assemble(&pages));
    println!("{}", serde_json::to_string_pretty(&topics).unwrap());
}
