# The OpenBao (Vault) policy of Sealgate's custody token: the least the `openbao`
# custody needs (crates/sealgate-custody/src/openbao.rs), nothing more. Tested as
# written by crates/sealgate-custody/tests/openbao.rs (policy_file_grants_the_least).
#
#   bao policy write sealgate-custody docs/openbao-policy.hcl
#   bao token create -policy=sealgate-custody -no-default-policy -period=24h
#
# Written for the defaults: Transit at `transit/`, KV v2 at `secret/`, records under
# `sealgate-custody/`, root key `sealgate-root`. Change the paths here if the custody
# TOML changes them.
#
# What it does NOT grant, on purpose: `transit/keys/<name>/config` (no exportable=true,
# no deletion_allowed), `transit/keys/<name>/rotate` or `/trim`, deleting a key (but
# for the exchange keys, below),
# `transit/export/*`, `transit/backup/*`, `transit/restore/*`, listing keys, and
# any other mount. `+` matches one path segment; `*` would also match `<name>/config`.

# Create role keys and the root key (only non-exportable, no plaintext backup, of
# the types the custody makes), and read their public keys. A POST on a key that
# exists already changes nothing.
path "transit/keys/+" {
  capabilities = ["read", "update"]
  allowed_parameters = {
    "type"                   = ["rsa-3072", "rsa-4096", "ecdsa-p256"]
    "exportable"             = [false]
    "allow_plaintext_backup" = [false]
  }
}

# Exchange API keys born in the custody (ids `xk-` and 16 hex digits): made of the
# two types the exchanges take, never exportable, no plaintext backup; read (their
# public key), signed with, and, once their credential is deleted, made deletable and
# deleted. `xk-*` also matches `xk-…/config`, `/rotate` and `/trim`: a leaked token
# could rotate (the custody then refuses the key) or delete an exchange key, never
# export one.
path "transit/keys/xk-*" {
  capabilities = ["read", "update", "delete"]
  allowed_parameters = {
    "type"                   = ["ed25519", "rsa-2048"]
    "exportable"             = [false]
    "allow_plaintext_backup" = [false]
    "deletion_allowed"       = [true]
  }
}
path "transit/sign/xk-*" {
  capabilities = ["update"]
}

# Open an envelope: RSA-OAEP-256 unwrap of its content key with a role key.
path "transit/decrypt/+" {
  capabilities = ["update"]
}

# Sign checkpoints and the recipient key set with the root key.
path "transit/sign/sealgate-root" {
  capabilities = ["update"]
}

# The role keys' lifecycle (versions, status), one KV v2 record per role,
# written with check-and-set.
path "secret/data/sealgate-custody/+" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/sealgate-custody/" {
  capabilities = ["list"]
}

# The custody checks its token at connect.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
