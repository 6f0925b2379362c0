-- SSH key pairs (createSSHKeyPair, registerSSHKeyPair): the public key in OpenSSH one-line form
-- and its MD5 fingerprint, one name per owner account. Private keys are never stored. Instances
-- keep the keys they were deployed with as details (SSH.PublicKey, SSH.KeyPairNames), so
-- deleting a key pair later leaves them unchanged.
CREATE TABLE ssh_keypairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    account_id BIGINT NOT NULL,
    domain_id BIGINT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created BIGINT NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX idx_ssh_keypairs_fingerprint ON ssh_keypairs (account_id, fingerprint);
