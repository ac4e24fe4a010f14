"""Foundations every level may use: argument checks, atomic writes, logging,
the private Keras names the project relies on (checked), and figures."""
