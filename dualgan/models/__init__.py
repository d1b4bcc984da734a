"""Networks of the Dualing GANs image experiments at 28x28 (the paper's appendix E.2).

* :func:`dcgan_generator`: a fully connected layer, stride-2 up-convolutions
  with batch norm and ReLU, a last convolution and a sigmoid output;
* :func:`dcgan_discriminator`: 3x3 convolutions with max-pooling and two fully
  connected layers whose concatenated activations (:attr:`DCGANDiscriminator.features`)
  are the features of the linear discriminator of eq. (1.1) of the theory page,
  docs/theory.md, and the parameters a trust-region step (eq. (2.2)) moves.

Data at 28x28 without downloads: ``dualgan.data.load_digits(image_size=28)``
(scikit-learn's digits, resampled bilinearly); MNIST itself, for users who
have its files: ``dualgan.data.load_idx_images("train-images-idx3-ubyte.gz")``
(images ``(N, 1, 28, 28)`` in [0, 1], what the generator's sigmoid produces).
"""
from .image import DCGANDiscriminator, DCGANGenerator, DiscriminatorFeatures, dcgan_discriminator, dcgan_generator

__all__ = ["dcgan_generator", "dcgan_discriminator", "DCGANGenerator", "DCGANDiscriminator",
           "DiscriminatorFeatures"]
