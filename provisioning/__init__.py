"""Manufacturing tooling: keystore, device registry, station workflow and programmers.

Built in the provisioning issue; nothing here yet.
"""
