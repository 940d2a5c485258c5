"""A small EDM-preconditioned U-Net for periodic 2D fields (wrap-around convolutions),
shared by train.py and export.py.

Preconditioning (Karras et al. 2022, "Elucidating the design space"):
  D(x, sigma) = c_skip x + c_out F(c_in x, c_noise),
  c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
  c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class NoiseEmbedding(nn.Module):
    """Sinusoidal features of c_noise followed by a small MLP."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, c_noise):
        half = self.dim // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=c_noise.dtype, device=c_noise.device) / half)
        angles = c_noise[:, None] * freqs[None, :] * 100.0
        return self.mlp(torch.cat([torch.cos(angles), torch.sin(angles)], dim=1))


class PeriodicConv2d(nn.Conv2d):
    """A convolution on the torus: wraps k // 2 cells on each side by hand
    before a conv without padding. Same parameters and result as
    padding_mode="circular", but it exports to ONNX correctly (torch 1.13's
    export of circular padding does not reproduce the network)."""

    def __init__(self, cin, cout, k):
        super().__init__(cin, cout, k, padding=0)
        self.wrap = k // 2

    def forward(self, x):
        p = self.wrap
        if p:
            x = torch.cat([x[:, :, -p:], x, x[:, :, :p]], dim=2)
            x = torch.cat([x[:, :, :, -p:], x, x[:, :, :, :p]], dim=3)
        return super().forward(x)


def groups(channels):
    """The largest of 8, 4, 2, 1 that divides the channel count (GroupNorm needs one)."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups(cin), cin)
        self.conv1 = PeriodicConv2d(cin, cout, 3)
        self.film = nn.Linear(emb, 2 * cout)
        self.norm2 = nn.GroupNorm(groups(cout), cout)
        self.conv2 = PeriodicConv2d(cout, cout, 3)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(e)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class UNet(nn.Module):
    """channels c, 2c, 4c at resolutions R, R/2, R/4; one residual block per level and direction."""

    def __init__(self, in_channels=1, base=16, emb=64):
        super().__init__()
        c1, c2, c3 = base, 2 * base, 4 * base
        self.embed = NoiseEmbedding(emb)
        self.inp = PeriodicConv2d(in_channels, c1, 3)
        self.down1 = ResBlock(c1, c1, emb)
        self.down2 = ResBlock(c1, c2, emb)
        self.mid = ResBlock(c2, c3, emb)
        self.up2 = ResBlock(c3 + c2, c2, emb)
        self.up1 = ResBlock(c2 + c1, c1, emb)
        self.out = PeriodicConv2d(c1, in_channels, 3)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, c_noise):
        e = self.embed(c_noise)
        h1 = self.down1(self.inp(x), e)                      # R
        h2 = self.down2(F.avg_pool2d(h1, 2), e)              # R/2
        h3 = self.mid(F.avg_pool2d(h2, 2), e)                # R/4
        u2 = self.up2(torch.cat([F.interpolate(h3, scale_factor=2.0, mode="nearest"), h2], 1), e)
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2.0, mode="nearest"), h1], 1), e)
        return self.out(F.silu(u1))


class GaussianSkip(nn.Module):
    """The exact denoiser of the Gaussian with the data's mean field and
    per-wavenumber variance: mu + F^-1[lambda_k / (lambda_k + sigma^2) F(x - mu)].

    It replaces EDM's skip connection c_skip x (the same formula for a white
    Gaussian of variance sigma_data^2), so the network only learns what is
    not Gaussian. A 3x3-convolution network cannot place sharp spectral
    features (the energy ridge of an under-resolved flow at the dealiasing
    radius) by itself; this term puts every mode's variance right from the
    first step. The 2D DFT is written as products with fixed cos/sin
    matrices, so the ONNX graph is plain MatMuls (about 12 H W (H + W) flops
    per field)."""

    def __init__(self, channels, height, width):
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, channels, height, width))
        self.register_buffer("power", torch.zeros(channels, height, width))
        for name, n in (("h", height), ("w", width)):
            j = torch.arange(n, dtype=torch.float64)
            angle = 2 * math.pi * torch.outer(j, j) / n
            self.register_buffer(f"cos_{name}", torch.cos(angle).float())
            self.register_buffer(f"sin_{name}", torch.sin(angle).float())

    @torch.no_grad()
    def fit(self, data, shift_w=1, shifts=True):
        """Mean field and per-mode variance of data [N, C, H, W]. With
        `shifts` the mean is averaged over the translations the training
        augments with (any shift along H, multiples of shift_w along W)."""
        data = torch.as_tensor(data, dtype=torch.float64)
        if shifts:
            mean = data.mean(dim=(0, 2), keepdim=True).expand(1, -1, data.shape[2], -1)
            width = data.shape[3]
            mean = torch.stack([torch.roll(mean, k, dims=3) for k in range(0, width, shift_w)]).mean(0)
        else:
            mean = data.mean(dim=0, keepdim=True)
        spectrum = torch.zeros(self.power.shape, dtype=torch.float64)
        for chunk in torch.split(data, 256):
            spectrum += (torch.fft.fft2(chunk - mean).abs() ** 2).sum(0)
        self.mean.copy_(mean.float())
        self.power.copy_((spectrum / (data.shape[0] * data.shape[2] * data.shape[3])).float())

    def forward(self, x, sigma2):
        ch, sh, cw, sw = self.cos_h, self.sin_h, self.cos_w, self.sin_w
        z = x - self.mean
        p, q = torch.matmul(z, cw), torch.matmul(z, sw)
        re = torch.matmul(ch, p) - torch.matmul(sh, q)
        im = -(torch.matmul(ch, q) + torch.matmul(sh, p))
        gain = self.power / (self.power + sigma2)
        re, im = re * gain, im * gain
        zr = torch.matmul(ch, re) - torch.matmul(sh, im)
        zi = torch.matmul(ch, im) + torch.matmul(sh, re)
        scale = 1.0 / (x.shape[2] * x.shape[3])
        return self.mean + (torch.matmul(zr, cw) - torch.matmul(zi, sw)) * scale


class EDMPrecond(nn.Module):
    """D(x, sigma) = skip(x, sigma) + c_out F(c_in x, c_noise), skip = c_skip x
    (EDM) or, with a GaussianSkip, the data Gaussian's exact denoiser."""

    def __init__(self, net, sigma_data=0.5, gaussian=None):
        super().__init__()
        self.net = net
        self.sigma_data = sigma_data
        self.gaussian = gaussian

    def forward(self, x, sigma):
        s = sigma.reshape(-1, 1, 1, 1).to(x.dtype)
        sd = self.sigma_data
        c_out = s * sd / torch.sqrt(s * s + sd * sd)
        c_in = 1 / torch.sqrt(s * s + sd * sd)
        c_noise = torch.log(sigma.reshape(-1).to(x.dtype)) / 4
        skip = sd * sd / (s * s + sd * sd) * x if self.gaussian is None else self.gaussian(x, s * s)
        return skip + c_out * self.net(c_in * x, c_noise)


def build_model(config):
    """The network a training config describes (train.py writes it; export.py
    and flops.py rebuild from it before loading the weights)."""
    c, h, w = config["shape"]
    gaussian = GaussianSkip(c, h, w) if config.get("gaussian_skip") else None
    return EDMPrecond(UNet(c, config["base"]), config["sigma_data"], gaussian)


def edm_loss(model, y, p_mean=-1.2, p_std=1.2):
    """The EDM training loss: sigma ~ lognormal, weight (sigma^2 + sd^2) / (sigma sd)^2."""
    sigma = torch.exp(torch.randn(y.shape[0], device=y.device) * p_std + p_mean)
    sd = model.sigma_data
    weight = (sigma**2 + sd**2) / (sigma * sd) ** 2
    noisy = y + sigma.reshape(-1, 1, 1, 1) * torch.randn_like(y)
    denoised = model(noisy, sigma)
    return (weight.reshape(-1, 1, 1, 1) * (denoised - y) ** 2).mean()
