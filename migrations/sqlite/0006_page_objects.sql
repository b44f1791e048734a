-- Each upload writes a page's image under its own object id (`books/{id}/pages/{n}/{object_id}/…`),
-- recorded with the page row. A delete removes only the objects of the row it deleted, so an
-- upload under the same page number in between keeps its image. Pages stored before this
-- migration have none and keep their old keys (`books/{id}/pages/{n}/source`).
ALTER TABLE pages ADD COLUMN object_id TEXT
    CHECK (object_id IS NULL OR length(object_id) = 32);
