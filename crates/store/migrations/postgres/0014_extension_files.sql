-- Extension files kept in the database, so that every server materialises the same ones.
-- Contents are stored once per SHA-256 (content-addressed); an extension lists its files by path
-- (relative to the extensions directory) with their digest and mode.
CREATE TABLE file_blobs (
    sha256 TEXT PRIMARY KEY,
    content BYTEA NOT NULL,
    size BIGINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE extension_files (
    extension_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    mode BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    PRIMARY KEY (extension_id, path)
);
-- What each server wrote of them: a file that differs from the copy its server wrote was
-- changed there by hand.
CREATE TABLE extension_file_copies (
    server_id TEXT NOT NULL,
    extension_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    written BIGINT NOT NULL,
    PRIMARY KEY (server_id, extension_id, path)
);
-- Deleted extensions whose files every server removes (deleteExtension cleanup=true), and the
-- servers that have done it (a server that was away does it when it is back).
CREATE TABLE extension_cleanups (
    extension_id BIGINT PRIMARY KEY,
    requested BIGINT NOT NULL
);
CREATE TABLE extension_cleanups_done (
    extension_id BIGINT NOT NULL,
    server_id TEXT NOT NULL,
    done BIGINT NOT NULL,
    PRIMARY KEY (extension_id, server_id)
);
