//! Prose: a paragraph's sentences, and the ones that define a term or give an example.
//!
//! Textbooks define a term in a few fixed shapes ("A library is a collection of …", "…
//! is called a data type", "… known as keywords", "Traceback is a Python report …", "A
//! variable refers to …"); these are matched on words, never on a page's own strings.

/// Words that end a sentence with a period but are not its end ("Ex.", "e.g.", "Dr.").
const ABBREVIATIONS: &[&str] = &[
    "ex", "e.g", "i.e", "etc", "vs", "dr", "mr", "mrs", "ms", "fig", "no", "st", "approx", "cf",
    "eq", "p", "pp",
];

/// Words that cannot be (or start) a defined term: pronouns, determiners, quantities,
/// modal and helping verbs.
const NOT_A_TERM: &[&str] = &[
    "this", "that", "these", "those", "it", "its", "they", "them", "there", "here", "we", "you",
    "i", "he", "she", "each", "every", "some", "many", "most", "much", "such", "one", "two",
    "three", "four", "five", "other", "another", "all", "any", "both", "no", "not", "which",
    "what", "who", "when", "where", "why", "how", "if", "because", "so", "also", "only", "can",
    "could", "may", "might", "must", "should", "will", "would", "shall", "has", "have", "had",
    "was", "were", "be", "been", "being", "does", "do", "did", "is", "are", "and", "or", "but",
    "then", "than", "a", "an", "the", "to", "of", "in", "on", "at", "for", "with", "by", "from",
    "as", "into", "after", "before", "while", "our", "your", "their", "his", "her", "my",
];

/// Words after "is called" or "known as" that start a phrase, not a name.
const NOT_A_NAME: &[&str] = &[
    "with", "by", "from", "in", "on", "at", "to", "for", "when", "once", "twice", "again", "and",
    "or", "if", "after", "before", "upon", "inside", "within", "through",
];

/// Words that end a name after "is called" or "known as".
const NAME_ENDS: &[&str] = &[
    "which", "that", "who", "and", "or", "because", "when", "where", "with", "by", "in", "for",
    "to", "from", "on", "at", "is", "are",
];

/// Phrases that name the term after them.
const NAMING: &[&[&str]] = &[
    &["is", "called"],
    &["are", "called"],
    &["also", "known", "as"],
    &["is", "known", "as"],
    &["are", "known", "as"],
    &["known", "as"],
    &["also", "called"],
    &["is", "termed"],
    &["are", "termed"],
];

/// How a sentence names its subject before the verb.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Article {
    /// "A library is …"
    Indefinite,
    /// "The syntax of a language defines …"
    Definite,
    /// "Traceback is …", "Comments are …"
    Bare,
}

/// Verbs that define their subject, and the subjects they may follow. "is" and "are" need
/// a defining complement after them (see [`defining_complement`]).
const DEFINING: &[(&[&str], &[Article])] = {
    use Article::*;
    &[
        (&["is", "defined", "as"], &[Indefinite, Definite, Bare]),
        (&["are", "defined", "as"], &[Indefinite, Definite, Bare]),
        (&["is", "used", "to"], &[Indefinite, Bare]),
        (&["are", "used", "to"], &[Indefinite, Bare]),
        (&["is", "used", "for"], &[Indefinite, Bare]),
        (&["are", "used", "for"], &[Indefinite, Bare]),
        (&["refers", "to"], &[Indefinite, Definite, Bare]),
        (&["refer", "to"], &[Indefinite, Bare]),
        (&["stands", "for"], &[Indefinite, Definite, Bare]),
        (&["consists", "of"], &[Indefinite, Bare]),
        (&["occurs", "when"], &[Indefinite, Bare]),
        (&["occur", "when"], &[Indefinite, Bare]),
        (&["happens", "when"], &[Indefinite, Bare]),
        (&["means"], &[Indefinite, Definite, Bare]),
        (&["denotes"], &[Indefinite, Definite, Bare]),
        (&["defines"], &[Indefinite, Definite]),
        (&["describes"], &[Indefinite]),
        (&["represents"], &[Indefinite]),
        (&["is"], &[Indefinite, Bare]),
        (&["are"], &[Indefinite, Bare]),
    ]
};

/// A word as compared: lower case, without the punctuation around it.
fn bare(word: &str) -> String {
    word.trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

/// Whether `prefix` ends in an abbreviation (its last word, lower case, without the period).
fn abbreviation(prefix: &str) -> bool {
    let last = prefix.rsplit(char::is_whitespace).next().unwrap_or("");
    let last = last
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    last.chars().count() == 1 || ABBREVIATIONS.contains(&last.as_str())
}

/// The sentences of a paragraph: each ends at ".", "?" or "!" (and any closing quote or
/// bracket) before a space and a capital, a digit or an opening quote, unless the word
/// there is an abbreviation.
pub fn sentences(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for (k, &(at, c)) in chars.iter().enumerate() {
        if !matches!(c, '.' | '?' | '!') || at < start {
            continue;
        }
        let mut end = k + 1;
        while chars
            .get(end)
            .is_some_and(|&(_, c)| matches!(c, '"' | '\'' | ')' | '\u{201D}' | '\u{2019}'))
        {
            end += 1;
        }
        let mut next = end;
        while chars.get(next).is_some_and(|&(_, c)| c.is_whitespace()) {
            next += 1;
        }
        let Some(&(_, first)) = chars.get(next) else {
            continue;
        };
        let opens = first.is_uppercase()
            || first.is_ascii_digit()
            || matches!(first, '"' | '\'' | '(' | '\u{201C}' | '\u{2018}');
        if next == end || !opens || (c == '.' && abbreviation(&text[start..at])) {
            continue;
        }
        let cut = chars[end].0;
        let sentence = text[start..cut].trim();
        if !sentence.is_empty() {
            out.push(sentence);
        }
        start = cut;
    }
    let last = text[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out
}

/// What an example sentence shows, without its lead ("Ex: Pandas is …", "For example,
/// 3/4 …").
pub fn example(sentence: &str) -> Option<&str> {
    const LEADS: &[&str] = &[
        "ex:",
        "ex.",
        "e.g.,",
        "e.g.",
        "for example,",
        "for example:",
        "for instance,",
    ];
    LEADS.iter().find_map(|lead| {
        let rest = super::strip_prefix_lowercase(sentence, lead)?.trim();
        (!rest.is_empty()).then_some(rest)
    })
}

/// A term as written: its words without the punctuation around the phrase (a call's
/// brackets stay: "print()").
fn term_of(words: &[&str]) -> Option<String> {
    let joined = words.join(" ");
    let mut term = joined.trim_start_matches(|c: char| !c.is_alphanumeric());
    loop {
        let t = term.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == ')'));
        match t.strip_suffix(')') {
            Some(inner) if !inner.contains('(') => term = inner,
            _ => {
                term = t;
                break;
            }
        }
    }
    (term.chars().any(char::is_alphabetic) && term.chars().count() <= 60).then(|| term.to_owned())
}

/// The term a sentence names after "is called", "known as" …: "… is called a data type."
fn named(words: &[&str], lower: &[String]) -> Option<String> {
    for (at, _) in words.iter().enumerate() {
        let Some(phrase) = NAMING.iter().find(|p| {
            lower
                .get(at..at + p.len())
                .is_some_and(|w| w.iter().zip(p.iter()).all(|(a, b)| a == b))
        }) else {
            continue;
        };
        let mut from = at + phrase.len();
        if lower
            .get(from)
            .is_some_and(|w| matches!(w.as_str(), "a" | "an" | "the"))
        {
            from += 1;
        }
        if lower
            .get(from)
            .is_none_or(|w| NOT_A_NAME.contains(&w.as_str()) || w.is_empty())
        {
            return None;
        }
        let mut to = from;
        while to < words.len() && to - from < 4 {
            if to > from && NAME_ENDS.contains(&lower[to].as_str()) {
                break;
            }
            to += 1;
            if words[to - 1].ends_with([',', '.', ';', ':', '?', '!']) {
                break;
            }
        }
        return term_of(&words[from..to]);
    }
    None
}

/// The term a relative clause defines: "… in snake case, which is all lowercase …" defines
/// "snake case" (the words before the comma, back to one no term holds).
fn apposed(words: &[&str], lower: &[String]) -> Option<String> {
    let comma = (1..words.len().saturating_sub(2)).find(|&k| {
        words[k].ends_with(',')
            && lower[k + 1] == "which"
            && matches!(lower[k + 2].as_str(), "is" | "are" | "means")
    })?;
    let mut from = comma + 1;
    while from > 0
        && comma + 1 - from < 3
        && !NOT_A_TERM.contains(&lower[from - 1].as_str())
        && (from == comma + 1 || !words[from - 1].ends_with([',', '.', ';', ':']))
    {
        from -= 1;
    }
    if from == comma + 1 || from == 0 {
        return None;
    }
    let np = &words[from..=comma];
    np.iter()
        .all(|w| w.chars().any(char::is_alphabetic))
        .then(|| term_of(np))
        .flatten()
}

/// Whether what follows "is"/"are" defines: an article or "what …", or a relative clause
/// soon after ("Comments are short phrases that explain …").
fn defining_complement(after: &[String]) -> bool {
    let Some(first) = after.first() else {
        return false;
    };
    if matches!(first.as_str(), "a" | "an" | "the" | "what" | "one" | "any") {
        return true;
    }
    first != "not"
        && after
            .iter()
            .take(5)
            .any(|w| matches!(w.as_str(), "that" | "which" | "who" | "whose"))
}

/// The term a sentence defines, if it defines one.
pub fn definition(sentence: &str) -> Option<String> {
    // Numbers before the first word are a table's or a figure's debris, not the sentence.
    let words: Vec<&str> = sentence
        .split_whitespace()
        .skip_while(|w| !w.chars().any(char::is_alphabetic))
        .collect();
    if words.len() < 4 || words.len() > 60 {
        return None;
    }
    let lower: Vec<String> = words.iter().map(|w| bare(w)).collect();
    if let Some(term) = named(&words, &lower).or_else(|| apposed(&words, &lower)) {
        return Some(term);
    }
    // A short lead-in before a comma ("Technically, a program is …").
    let skip = words
        .iter()
        .take(4)
        .position(|w| w.ends_with(','))
        .map_or(0, |k| k + 1);
    let (words, lower) = (&words[skip..], &lower[skip..]);
    let article = match lower.first()?.as_str() {
        "a" | "an" => Article::Indefinite,
        "the" => Article::Definite,
        _ => Article::Bare,
    };
    let from = usize::from(article != Article::Bare);
    let longest = match article {
        Article::Indefinite => 4,
        Article::Definite => 5,
        Article::Bare => 3,
    };
    // A bare subject is the sentence's first word, capitalized; a clause ("Making
    // mistakes is …") is not a term.
    let clause =
        words.len() > 1 && lower[0].ends_with("ing") && !NOT_A_TERM.contains(&lower[1].as_str());
    if article == Article::Bare && (!words[0].starts_with(|c: char| c.is_uppercase()) || clause) {
        return None;
    }
    // The words a term may hold: no pronoun, helping verb or preposition, but "of" and
    // an article after it ("the syntax of a language").
    let in_term = |np: &[String], w: &String| {
        !NOT_A_TERM.contains(&w.as_str())
            || w == "of"
            || (np.iter().any(|n| n == "of") && matches!(w.as_str(), "a" | "an" | "the"))
    };
    for verb_at in from + 1..=(from + longest).min(words.len().saturating_sub(2)) {
        let np = &lower[from..verb_at];
        let found = DEFINING.iter().find(|(verb, _)| {
            lower
                .get(verb_at..verb_at + verb.len())
                .is_some_and(|w| w.iter().zip(verb.iter()).all(|(a, b)| a == b))
        });
        // The subject ends at a comma or a word that no term holds.
        let last = np.len() - 1;
        if words[verb_at - 1].ends_with([',', ';', ':', '.', '?', '!'])
            || !in_term(&np[..last], &np[last])
        {
            return None;
        }
        let Some((verb, articles)) = found else {
            continue;
        };
        if !articles.contains(&article) {
            return None;
        }
        if matches!(verb, [one] if *one == "is" || *one == "are")
            && !defining_complement(&lower[verb_at + verb.len()..])
        {
            return None;
        }
        // "The syntax of a language" defines "syntax".
        let np_words = &words[from..verb_at];
        let cut = np.iter().position(|w| w == "of").unwrap_or(np.len());
        if cut == 0 || !np_words.iter().all(|w| w.chars().any(char::is_alphabetic)) {
            return None;
        }
        return term_of(&np_words[..cut]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_end_at_a_stop_before_a_capital() {
        assert_eq!(
            sentences(
                "A library is code. Ex: Pandas is one. See docs.python.org for more, e.g. this. Done"
            ),
            [
                "A library is code.",
                "Ex: Pandas is one.",
                "See docs.python.org for more, e.g. this.",
                "Done"
            ]
        );
        assert_eq!(
            sentences("It ended \"Stop.\" Then 3 more"),
            ["It ended \"Stop.\"", "Then 3 more"]
        );
    }

    #[test]
    fn the_shapes_of_a_definition() {
        let cases = [
            (
                "A computer is an electronic device that stores information.",
                Some("computer"),
            ),
            (
                "Technically, a program is a sequence of instructions.",
                Some("program"),
            ),
            (
                "The syntax of a language defines how code must be structured.",
                Some("syntax"),
            ),
            (
                "Output is the information produced by a program.",
                Some("Output"),
            ),
            ("Input is what a user enters into a program.", Some("Input")),
            (
                "The format used to represent data is called a data type.",
                Some("data type"),
            ),
            (
                "Python has reserved words, known as keywords, which are special.",
                Some("keywords"),
            ),
            (
                "Comments are short phrases that explain what the code is doing.",
                Some("Comments"),
            ),
            (
                "A variable refers to a value stored in memory.",
                Some("variable"),
            ),
            (
                "Arithmetic operators are used to perform operations.",
                Some("Arithmetic operators"),
            ),
            (
                "A docstring is documentation written for others who use it.",
                Some("docstring"),
            ),
            ("The print() function is called with two values.", None),
            ("The goal of this book is to teach programming.", None),
            ("The number below the bar is the denominator.", None),
            ("A common denominator is not needed.", None),
            (
                "Two fractions are equivalent when they name the same amount.",
                None,
            ),
            ("A name should be short and descriptive.", None),
            ("One reason why Python is popular is its syntax.", None),
            (
                "A common operation on a string object is to get its length.",
                None,
            ),
            ("Spaces and newline characters are not important.", None),
            (
                "Names are written in snake case, which is all lower case.",
                Some("snake case"),
            ),
            ("The sum is 19/12, which is more than one.", None),
            ("Making mistakes is a normal part of programming.", None),
            (
                "Debugging is the process of finding errors.",
                Some("Debugging"),
            ),
        ];
        for (sentence, term) in cases {
            assert_eq!(definition(sentence).as_deref(), term, "{sentence}");
        }
    }

    #[test]
    fn examples_are_led_by_ex_or_for_example() {
        assert_eq!(example("Ex: 1 + 2 is 3."), Some("1 + 2 is 3."));
        assert_eq!(
            example("For example, halves are equal."),
            Some("halves are equal.")
        );
        assert_eq!(example("Examples abound."), None);
        assert_eq!(example("Ex:"), None);
    }
}
