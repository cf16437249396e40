// Package secrets keeps each environment's secrets, versioned and
// encrypted at rest, in the server's bbolt file (buckets "secrets" and
// "secrets_meta"), and owns the master key that protects them.
//
// # Crypto design
//
// Envelope encryption with AES-256-GCM throughout (stdlib only):
//
//   - Every secret version gets a fresh random 256-bit data key. The value
//     is sealed under it with a random 96-bit nonce and additional data
//     "<env>/<name>/<version>", so a ciphertext moved to another secret,
//     environment or version fails authentication.
//   - The data key is wrapped (sealed) under the master key with additional
//     data "<key id>:<env>/<name>/<version>".
//   - A record stores the version, creation time, actor, master key id,
//     both nonces, the wrapped key and the ciphertext; never a plaintext
//     value, never an unwrapped key. Get returns an error wrapping
//     ErrDecrypt for any modification, never garbage.
//   - The master key's id is the first 8 bytes of its SHA-256, in hex.
//     A key check (a known plaintext sealed under the master key, with the
//     key id) sits in secrets_meta; Open verifies the key against it before
//     touching anything, and with a wrong key fails with ErrWrongMasterKey
//     having written nothing.
//   - RotateKey re-wraps every data key under a new master key in one
//     transaction, bracketed by master.key.next on disk so that a crash at
//     any point is finished or undone by the next Open: the key check,
//     replaced in that same transaction, says which key the store needs.
//
// # The master key
//
// LoadKeyring takes it from HAVEN_MASTER_KEY (standard base64 of 32
// bytes) if set, else from <data dir>/master.key (the same base64 text),
// generating one with crypto/rand on first start; Open saves it with mode
// 0600 (temporary file, fsync, rename) once it seals a new store with it.
//
// # Threat model
//
// This protects secret values at rest: in the store file, and in copies
// and backups of the store file or of the data directory that do not
// include the key. It does not protect against someone who has both the
// store and the key, nor against root on the running server (the key is
// in memory), nor does it hide secret names, environments, version counts,
// times or actors, which are plaintext metadata. The key file beside the
// data is a convenience for `haven up`: anyone with a tarball of the whole
// data directory has both. In production set HAVEN_MASTER_KEY from a secret
// manager, or keep master.key out of the data directory's backups. After
// RotateKey the old key no longer opens the store, but it still opens
// backups taken before the rotation. Deleted versions may linger, sealed,
// in the store file's free pages until bbolt reuses them.
//
// Values never appear in errors; callers must also keep them out of logs,
// events and audit records.
//
// May import: stdlib, bbolt.
package secrets
