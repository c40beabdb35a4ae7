"""git: the only layer that runs git - the repository, its config, ref fingerprints."""
