-- The memorial wall (issue 7): per-group settings, farewell posts, their screenshots, candles,
-- and a trigram full-text index over what people wrote and what the screenshots say.
-- Images live on disk under <data_dir>/images by content hash; rows only name the hash.

CREATE TABLE memorial_groups (
    id               INTEGER PRIMARY KEY,
    platform         TEXT NOT NULL,
    chat_id          TEXT NOT NULL,
    title            TEXT NOT NULL DEFAULT '',
    -- Where cards go: a channel / forum-topic id on the same platform; NULL = the group itself.
    wall_target      TEXT,
    allow_anonymous  INTEGER NOT NULL DEFAULT 1 CHECK (allow_anonymous IN (0, 1)),
    -- Posters may always remove their own posts; 'admins' also lets admins remove any post.
    removal          TEXT NOT NULL DEFAULT 'admins' CHECK (removal IN ('admins', 'posters')),
    introduced       INTEGER NOT NULL DEFAULT 0 CHECK (introduced IN (0, 1)),
    created_at       REAL NOT NULL,
    UNIQUE (platform, chat_id)
);

CREATE TABLE memorial_posts (
    -- AUTOINCREMENT: a removed post's number is never given to a new one (old cards' candle
    -- buttons and "/wall remove N" must not reach a different farewell).
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id       INTEGER NOT NULL REFERENCES memorial_groups(id) ON DELETE CASCADE,
    -- Erasing a person erases their posts; orphaned image files are swept from disk.
    person_id      INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    poster_name    TEXT NOT NULL DEFAULT '',
    anonymous      INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1)),
    caption        TEXT NOT NULL DEFAULT '',
    companion      TEXT NOT NULL DEFAULT '',
    farewell_date  TEXT NOT NULL DEFAULT '',
    ocr_text       TEXT NOT NULL DEFAULT '',
    -- pending → done | failed | unavailable; a post is on the wall whatever this says.
    ocr_status     TEXT NOT NULL DEFAULT 'pending'
                   CHECK (ocr_status IN ('pending', 'done', 'failed', 'unavailable')),
    created_at     REAL NOT NULL
);
CREATE INDEX memorial_posts_group ON memorial_posts(group_id, created_at);
CREATE INDEX memorial_posts_person ON memorial_posts(person_id, created_at);
CREATE INDEX memorial_posts_ocr ON memorial_posts(ocr_status) WHERE ocr_status = 'pending';

CREATE TABLE memorial_images (
    post_id   INTEGER NOT NULL REFERENCES memorial_posts(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    digest    TEXT NOT NULL,
    ext       TEXT NOT NULL CHECK (ext IN ('png', 'jpg')),
    width     INTEGER NOT NULL,
    height    INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    PRIMARY KEY (post_id, position)
);
CREATE INDEX memorial_images_digest ON memorial_images(digest);

CREATE TABLE memorial_candles (
    post_id    INTEGER NOT NULL REFERENCES memorial_posts(id) ON DELETE CASCADE,
    person_id  INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    lit_at     REAL NOT NULL,
    PRIMARY KEY (post_id, person_id)
);

-- Trigram index (platform-notes §10): substring MATCH for Chinese; queries of 1–2 characters
-- use LIKE on the base table instead (the trigram table cannot answer them on SQLite 3.40).
CREATE VIRTUAL TABLE memorial_fts USING fts5(
    caption, companion, ocr_text, content='memorial_posts', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER memorial_posts_ai AFTER INSERT ON memorial_posts BEGIN
    INSERT INTO memorial_fts(rowid, caption, companion, ocr_text)
    VALUES (new.id, new.caption, new.companion, new.ocr_text);
END;
CREATE TRIGGER memorial_posts_ad AFTER DELETE ON memorial_posts BEGIN
    INSERT INTO memorial_fts(memorial_fts, rowid, caption, companion, ocr_text)
    VALUES ('delete', old.id, old.caption, old.companion, old.ocr_text);
END;
CREATE TRIGGER memorial_posts_au AFTER UPDATE OF caption, companion, ocr_text ON memorial_posts BEGIN
    INSERT INTO memorial_fts(memorial_fts, rowid, caption, companion, ocr_text)
    VALUES ('delete', old.id, old.caption, old.companion, old.ocr_text);
    INSERT INTO memorial_fts(rowid, caption, companion, ocr_text)
    VALUES (new.id, new.caption, new.companion, new.ocr_text);
END;

-- A member's own farewell kept in their private memories (/keep, DM only). The screenshot stays
-- on disk while a keepsake names it, even after the post leaves the wall.
CREATE TABLE memorial_keepsakes (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    memory_id   INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
    post_id     INTEGER REFERENCES memorial_posts(id) ON DELETE SET NULL,
    digest      TEXT NOT NULL,
    ext         TEXT NOT NULL CHECK (ext IN ('png', 'jpg')),
    created_at  REAL NOT NULL
);
CREATE INDEX memorial_keepsakes_person ON memorial_keepsakes(person_id);
CREATE INDEX memorial_keepsakes_digest ON memorial_keepsakes(digest);
