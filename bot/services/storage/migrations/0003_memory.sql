-- Personas, memory letters, memories (letter chunks, single memories, imported history,
-- character-book entries, style examples), imported conversations, and account-link codes.

CREATE TABLE personas (
    id                INTEGER PRIMARY KEY,
    person_id         INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    personality       TEXT NOT NULL DEFAULT '',
    speaking_style    TEXT NOT NULL DEFAULT '',
    relationship      TEXT NOT NULL DEFAULT '',
    important_dates   TEXT NOT NULL DEFAULT '',
    example_dialogue  TEXT NOT NULL DEFAULT '',
    greeting          TEXT NOT NULL DEFAULT '',
    temperature       REAL,
    top_p             REAL,
    max_tokens        INTEGER,
    -- Card fields we do not model (scenario, extensions, …), kept so an export loses nothing.
    card_extra        TEXT NOT NULL DEFAULT '{}',
    active            INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL
);
CREATE INDEX personas_person ON personas(person_id);
CREATE UNIQUE INDEX personas_one_active ON personas(person_id) WHERE active = 1;

-- The letter exactly as uploaded (decoded to text); chunks in `memories` point into it.
CREATE TABLE letters (
    id          INTEGER PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    persona_id  INTEGER REFERENCES personas(id) ON DELETE CASCADE,
    title       TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX letters_person ON letters(person_id);

CREATE TABLE imported_conversations (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    persona_id   INTEGER REFERENCES personas(id) ON DELETE CASCADE,
    source       TEXT NOT NULL,          -- 'chatgpt'
    source_id    TEXT NOT NULL,          -- the export's conversation id
    title        TEXT NOT NULL DEFAULT '',
    created_at   REAL,
    models       TEXT NOT NULL DEFAULT '',
    turns        INTEGER NOT NULL DEFAULT 0,
    imported_at  REAL NOT NULL,
    UNIQUE (person_id, source, source_id)
);

CREATE TABLE memories (
    id               INTEGER PRIMARY KEY,
    person_id        INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    -- NULL: about the person, shared by all their personas.
    persona_id       INTEGER REFERENCES personas(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('letter', 'memory', 'history', 'book', 'style')),
    body             TEXT NOT NULL,
    keywords         TEXT NOT NULL DEFAULT '[]',   -- book entries: JSON list of trigger keys
    letter_id        INTEGER REFERENCES letters(id) ON DELETE CASCADE,
    span_start       INTEGER,
    span_end         INTEGER,
    conversation_id  INTEGER REFERENCES imported_conversations(id) ON DELETE CASCADE,
    pinned           INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    created_at       REAL NOT NULL,
    -- Search tokens computed in Python: CJK bigrams and English stems, space-separated.
    terms            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX memories_person ON memories(person_id, kind, created_at);
CREATE INDEX memories_persona ON memories(persona_id);
CREATE INDEX memories_letter ON memories(letter_id);
CREATE INDEX memories_conversation ON memories(conversation_id);
-- Pinned memories are read on every companion turn; a partial index keeps that O(pins).
CREATE INDEX memories_pinned ON memories(person_id, created_at) WHERE pinned = 1;

-- Trigram full-text index over memory bodies (platform-notes §10): substring MATCH for CJK,
-- BM25 ranking. Queries shorter than three characters use LIKE on the base table instead.
CREATE VIRTUAL TABLE memories_fts USING fts5(
    body, content='memories', content_rowid='id', tokenize='trigram'
);
-- Word-level index over `terms` (CJK bigrams, English stems): ranks two-character Chinese words
-- and catches the bigram overlap that trigrams miss (platform-notes §10's 2-char gap).
CREATE VIRTUAL TABLE memories_terms USING fts5(
    terms, content='memories', content_rowid='id', tokenize='unicode61'
);
-- Document frequencies per term, to drop near-universal terms from a query before ranking.
CREATE VIRTUAL TABLE memories_fts_vocab USING fts5vocab(memories_fts, 'row');
CREATE VIRTUAL TABLE memories_terms_vocab USING fts5vocab(memories_terms, 'row');
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, body) VALUES (new.id, new.body);
    INSERT INTO memories_terms(rowid, terms) VALUES (new.id, new.terms);
END;
CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO memories_terms(memories_terms, rowid, terms) VALUES ('delete', old.id, old.terms);
END;
CREATE TRIGGER memories_au AFTER UPDATE OF body, terms ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO memories_fts(rowid, body) VALUES (new.id, new.body);
    INSERT INTO memories_terms(memories_terms, rowid, terms) VALUES ('delete', old.id, old.terms);
    INSERT INTO memories_terms(rowid, terms) VALUES (new.id, new.terms);
END;

-- One-time codes that join two platform accounts into one person (/link).
CREATE TABLE link_codes (
    code        TEXT PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    expires_at  REAL NOT NULL
);

-- Optional embeddings (off by default): one float32 vector per memory, per embedding model.
CREATE TABLE memory_vectors (
    memory_id  INTEGER PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE,
    person_id  INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    vector     BLOB NOT NULL
);
CREATE INDEX memory_vectors_person ON memory_vectors(person_id, model);
