"""Provisioning at manufacturing (issue: keystore, device registry, station workflow,
programmers). So far: the factory keystore (:mod:`ooc_sdk.image.keystore`)."""
