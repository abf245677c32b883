"""Datos reales como tensores: MNIST, Fashion-MNIST, «formas» y densidades 2-D de juguete."""
from .batches import batches
from .formas import FACTOR_NAMES, FACTOR_SIZES, SHAPES, load_formas, render, sample_factors
from .idx import DatasetError, DatasetMissing
from .transforms import binarize
from .toy2d import TOY_NAMES, mixture_of_gaussians, sample_toy
from .vision import ImageData, load_fashion_mnist, load_mnist

__all__ = ["DatasetError", "DatasetMissing", "FACTOR_NAMES", "FACTOR_SIZES", "ImageData", "SHAPES", "TOY_NAMES",
           "batches", "binarize", "load_fashion_mnist", "load_formas", "load_mnist", "mixture_of_gaussians",
           "render", "sample_factors", "sample_toy"]
