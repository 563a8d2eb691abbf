"""aae-lab: adversarial autoencoders (Makhzani et al. 2015) for molecules and images."""

__version__ = "0.1.0"
