"""Synthetic face encodings shaped like dlib's: many people, several images each.

Each person is a centre drawn around a common mean vector (real encodings share one: its norm
is about 1.32 for the development photos, their own norms about 1.4); each image is its
person's centre plus noise. Centres spread with an uneven spectrum (standard deviation of
principal direction k proportional to k^-0.35, in a random rotation), as real encodings vary
more along some directions than others; the noise of an image is isotropic, scaled per person
(log-normal, sigma 0.25) because some people's photos vary more than others'. The two scales
are set so the typical distances equal those of the real development photos (computed with
media_pipeline in the benchmark, which prints both side by side):

    same person       median 0.38 (quartiles 0.32-0.41 real, 0.32-0.45 here)
    different people  median 0.84 (5th percentile 0.71 real, 0.72 here)

Queries of known people are new images of gallery people (new noise around their centre);
strangers are images of new people drawn from the same distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIMENSIONS = 128
SAME_PERSON_MEDIAN = 0.38
DIFFERENT_PEOPLE_MEDIAN = 0.845
SPECTRUM_EXPONENT = 0.35
PERSON_SPREAD_SIGMA = 0.25
IMAGES_PER_PERSON = 4.0  # mean; 1 + Poisson(3)
MEAN_NORM = 1.32


@dataclass
class FacePopulation:
    mean: np.ndarray  # (128,)
    centre_axes: np.ndarray  # (128, 128): centre = mean + z @ centre_axes, z ~ N(0, I)
    image_noise: float  # per-dimension standard deviation of an image around its centre
    rng: np.random.Generator

    @classmethod
    def create(cls, seed: int = 0, mean: np.ndarray | None = None) -> FacePopulation:
        rng = np.random.default_rng(seed)
        if mean is None:
            mean = rng.normal(size=DIMENSIONS)
            mean *= MEAN_NORM / np.linalg.norm(mean)
        # E|a - b|^2 = 2 (trace of centre covariance + trace of image covariance)
        image_trace = SAME_PERSON_MEDIAN**2 / 2
        centre_trace = DIFFERENT_PEOPLE_MEDIAN**2 / 2 - image_trace
        spectrum = np.arange(1, DIMENSIONS + 1, dtype=np.float64) ** -SPECTRUM_EXPONENT
        scales = np.sqrt(spectrum**2 / np.sum(spectrum**2) * centre_trace)
        rotation, _ = np.linalg.qr(rng.normal(size=(DIMENSIONS, DIMENSIONS)))
        return cls(
            mean=np.asarray(mean, dtype=np.float64),
            centre_axes=scales[:, None] * rotation.T,
            image_noise=float(np.sqrt(image_trace / DIMENSIONS)),
            rng=rng,
        )

    def people(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(centres (count, 128), per-person noise scale (count,))."""
        centres = self.mean + self.rng.normal(size=(count, DIMENSIONS)) @ self.centre_axes
        spread = self.rng.lognormal(0.0, PERSON_SPREAD_SIGMA, size=count)
        return centres, spread

    def images(self, centres: np.ndarray, spread: np.ndarray) -> np.ndarray:
        """One new image per (centre, spread) row."""
        noise = self.rng.normal(size=centres.shape) * (self.image_noise * spread)[:, None]
        return centres + noise


@dataclass
class SyntheticGallery:
    encodings: np.ndarray  # (n, 128) float64
    person: np.ndarray  # (n,) person number of each row
    centres: np.ndarray
    spread: np.ndarray
    population: FacePopulation

    def known_queries(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """New images of gallery people: (queries, their person numbers)."""
        who = self.population.rng.integers(0, len(self.centres), size=count)
        return self.population.images(self.centres[who], self.spread[who]), who

    def stranger_queries(self, count: int) -> np.ndarray:
        """Images of people not in the gallery."""
        return self.population.images(*self.population.people(count))


def gallery(size: int, seed: int = 0, mean: np.ndarray | None = None) -> SyntheticGallery:
    """`size` encodings of about size/4 people (1 + Poisson(3) images each)."""
    population = FacePopulation.create(seed, mean)
    counts = 1 + population.rng.poisson(IMAGES_PER_PERSON - 1, size=int(size / 3) + 16)
    counts = counts[: int(np.searchsorted(np.cumsum(counts), size)) + 1]
    counts[-1] -= int(counts.sum()) - size
    counts = counts[counts > 0]
    centres, spread = population.people(len(counts))
    person = np.repeat(np.arange(len(counts)), counts)
    encodings = population.images(centres[person], spread[person])
    return SyntheticGallery(encodings, person, centres, spread, population)


def distance_percentiles(
    encodings: np.ndarray, person: np.ndarray, pairs: int = 20_000, seed: int = 1
) -> dict[str, list[float]]:
    """Percentiles (5, 25, 50, 75, 95) of same-person and different-people distances."""
    rng = np.random.default_rng(seed)
    if len(encodings) * (len(encodings) - 1) // 2 <= pairs:
        left, right = np.triu_indices(len(encodings), k=1)
    else:
        # Sampled pairs, plus every same-person pair of neighbouring rows (people are in runs).
        picked = rng.integers(0, len(encodings), size=(2, pairs))
        run = np.flatnonzero(person[:-1] == person[1:])[:pairs]
        left = np.concatenate([picked[0], run])
        right = np.concatenate([picked[1], run + 1])
        keep = left != right
        left, right = left[keep], right[keep]
    distances = np.linalg.norm(encodings[left] - encodings[right], axis=1)
    same = person[left] == person[right]
    points = [5, 25, 50, 75, 95]
    return {
        "same_person": [round(float(v), 3) for v in np.percentile(distances[same], points)],
        "different_people": [round(float(v), 3) for v in np.percentile(distances[~same], points)],
        "same_person_pairs": int(same.sum()),
        "different_people_pairs": int((~same).sum()),
    }


def exact_nearest(
    encodings: np.ndarray, queries: np.ndarray, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 nearest row and distance per query: a float64 matrix product picks the 8
    best rows, then the distance is recomputed as face_recognition.face_distance does."""
    encodings = np.asarray(encodings, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64).reshape(-1, DIMENSIONS)
    squared = np.einsum("ij,ij->i", encodings, encodings)
    rows = np.empty(len(queries), dtype=np.int64)
    distances = np.empty(len(queries))
    shortlist = min(8, len(encodings))
    for start in range(0, len(queries), chunk):
        part = queries[start : start + chunk]
        partial = squared[None, :] - 2.0 * (part @ encodings.T)
        best = np.argpartition(partial, shortlist - 1, axis=1)[:, :shortlist]
        for offset, (query, candidates) in enumerate(zip(part, best, strict=True)):
            exact = np.linalg.norm(encodings[candidates] - query, axis=1)
            pick = int(np.argmin(exact))
            rows[start + offset] = candidates[pick]
            distances[start + offset] = exact[pick]
    return rows, distances
