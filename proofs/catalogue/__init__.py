"""The claim catalogue, one module per paper section; each module exposes ``CLAIMS: list[Claim]``."""
