"""Molecules as SMILES or SELFIES: data and tokenizers, the sequence model families (AAE, AE, VAE, VAE with a
property head), training pipeline, generation (plain and syntax-constrained), MOSES/GuacaMol metrics, latent
quality, comparison of runs and lead optimisation in latent space."""
