"""The encrypted, authenticated flash image: format (the byte-level source of truth), keys, the
packer, the reader and verifier, the littlefs metadata partition. See docs/FORMAT.md."""
