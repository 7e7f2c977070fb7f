"""The Section 3 virtual-token constructions as exact weights of the reference transformer (paper-notes 3)."""
