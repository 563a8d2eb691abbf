"""Images: the AAE experiments of Makhzani et al. (2015) on handwritten digits (scikit-learn's 8x8 digits or
MNIST-format files): data, image encoders/decoders, the supervised, semi-supervised, clustering and label-prior
families, their training, generation and metrics.

``aae_core.images.ImageConfig`` is :class:`aae_core.images.training.ImageConfig`, imported on first use.
"""


def __getattr__(name: str):
    if name == "ImageConfig":
        from aae_core.images.training import ImageConfig

        return ImageConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
