"""Procedural street scenes in each data set's layout: the embedded demo data set and test fixture.

Each image is a perspective street (sky, buildings with windows, road with lane marks, sidewalks,
terrain, trees, poles with signs and lights, cars, persons, walls/fences) with colour jitter,
illumination and texture noise, plus void ids (ego vehicle, out of roi, static, ground) so that
ignore handling is exercised. Class colours overlap on purpose: a network has to use shape and
context, not colour alone. Everything derives from the seed, so a tree is reproducible.

The same scenes can be written in the layout of PASCAL VOC, ADE20K SceneParsing or a custom folder
(``--dataset``; ``write_layout``): the 19 street classes become mask values in that format's
convention (VOC: class index in a palette PNG, 255 = void; ADE20K: index + 1, 0 = void; custom:
class index, 255 = void, with a classes.txt), so conversion and training run on every format.

    python -m src.data.synthetic --output_path DIR --num_train 6 --num_val 3 --height 64 --width 128
"""
import argparse
import os

import cv2
import numpy as np

from src.data.cityscapes import IMAGE_DIR, IMAGE_SUFFIX, LABEL_DIR, LABEL_SUFFIX
from PIL import Image

from src.data import datasets
from src.data.labels import ID_TO_TRAIN_ID, NAME_TO_LABEL, TRAIN_CLASS_NAMES, TRAIN_ID_PALETTE
from src.errors import UserError, run_main
from src.fileio import atomic_folder, check_output_location, remove_stale_temporaries

CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt", "lindau")}
_SPLIT_KEYS = {"train": 0, "val": 1}

ID = {name: label.id for name, label in NAME_TO_LABEL.items()}

# Texture noise amplitude (grey levels) per labelId; unlisted ids use the default.
_NOISE_DEFAULT = 6.0
_NOISE = {ID["sky"]: 2.5, ID["vegetation"]: 22.0, ID["terrain"]: 14.0, ID["road"]: 7.0,
          ID["sidewalk"]: 9.0, ID["building"]: 8.0}


def _jitter(rng, rgb, amount):
    """`rgb` with each channel moved by up to `amount` grey levels."""
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


class _Canvas:
    """An RGB image and its labelIds map, painted together."""

    def __init__(self, height, width):
        self.height, self.width = height, width
        self.image = np.zeros((height, width, 3), np.uint8)
        self.label = np.zeros((height, width), np.uint8)

    def poly(self, points, rgb, label_id):
        pts = [np.round(np.asarray(points, np.float64)).astype(np.int32)]
        cv2.fillPoly(self.image, pts, rgb)
        cv2.fillPoly(self.label, pts, int(label_id))

    def rect(self, x0, y0, x1, y1, rgb, label_id):
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], rgb, label_id)

    def ellipse(self, cx, cy, rx, ry, rgb, label_id):
        centre, axes = (int(round(cx)), int(round(cy))), (max(1, int(round(rx))), max(1, int(round(ry))))
        cv2.ellipse(self.image, centre, axes, 0, 0, 360, rgb, -1)
        cv2.ellipse(self.label, centre, axes, 0, 0, 360, int(label_id), -1)


class _Street:
    """Perspective geometry: horizon row, vanishing point, and the ground-plane scale of a row."""

    def __init__(self, rng, height, width):
        self.height, self.width = height, width
        self.horizon = height * rng.uniform(0.36, 0.55)
        self.vanish_x = width * rng.uniform(0.35, 0.65)
        self.road_near = width * rng.uniform(0.28, 0.45)   # half width of the road at the bottom row
        self.walk_near = width * rng.uniform(0.12, 0.25)   # sidewalk width at the bottom row
        self.terrain_near = width * rng.uniform(0.05, 0.4)  # terrain before a void ground patch

    def depth(self, y):
        """0 at the horizon, 1 at the bottom row: object size factor of the ground row y."""
        return (y - self.horizon) / (self.height - self.horizon)

    def row(self, t):
        return self.horizon + t * (self.height - self.horizon)

    def ground_x(self, t, offset):
        """x of a ground point `offset` (at the bottom row scale) from the road centre, at depth t."""
        return self.vanish_x + t * offset

    def strip(self, inner, outer, side):
        """Ground triangle from the vanishing point between two offsets from the road centre at the
        bottom row, on one side (-1 left, +1 right)."""
        return [(self.vanish_x, self.horizon), (self.ground_x(1, side * outer), self.height),
                (self.ground_x(1, side * inner), self.height)]


def _sky(canvas, rng, street):
    top = np.array(_jitter(rng, (95, 140, 200), 30), np.float64)
    bottom = np.array(_jitter(rng, (190, 205, 225), 25), np.float64)
    rows = max(1, int(np.ceil(street.horizon)))
    ramp = np.linspace(0.0, 1.0, rows)[:, None, None]
    canvas.image[:rows] = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    canvas.label[:rows] = ID["sky"]
    for _ in range(rng.integers(0, 4)):
        cx, cy = rng.uniform(0, canvas.width), rng.uniform(0, street.horizon * 0.6)
        canvas.ellipse(cx, cy, canvas.width * rng.uniform(0.03, 0.1), canvas.height * rng.uniform(0.02, 0.05),
                       _jitter(rng, (235, 235, 240), 15), ID["sky"])


_FACADES = ((120, 120, 120), (170, 150, 120), (140, 90, 70), (200, 190, 170), (90, 95, 105))


def _buildings(canvas, rng, street):
    x, h, w = 0.0, street.horizon, canvas.width
    bottom = h + canvas.height * 0.01
    while x < w:
        bw = w * rng.uniform(0.07, 0.22)
        if rng.random() < 0.15:  # gap showing sky or trees behind
            x += bw * 0.5
            continue
        top = h * rng.uniform(0.0, 0.75)
        facade = _jitter(rng, _FACADES[rng.integers(len(_FACADES))], 20)
        canvas.rect(x, top, x + bw, bottom, facade, ID["building"])
        window = _jitter(rng, (60, 70, 85) if rng.random() < 0.6 else (150, 180, 200), 20)
        step_x, step_y = bw / rng.integers(3, 7), max(3.0, canvas.height * rng.uniform(0.03, 0.06))
        wy = top + step_y * 0.5
        while wy + step_y * 0.5 < bottom - step_y:
            wx = x + step_x * 0.25
            while wx + step_x * 0.5 < x + bw:
                canvas.rect(wx, wy, wx + step_x * 0.5, wy + step_y * 0.5, window, ID["building"])
                wx += step_x
            wy += step_y
        x += bw


def _ground(canvas, rng, street):
    """Terrain everywhere below the horizon, then sidewalks, road, and sometimes a void ground patch."""
    h = int(street.horizon)
    canvas.image[h:] = _jitter(rng, (120, 140, 70), 25)
    canvas.label[h:] = ID["terrain"]
    road, walk, terrain = street.road_near, street.walk_near, street.terrain_near
    if rng.random() < 0.5:
        side = rng.choice([-1, 1])
        canvas.poly(street.strip(road + walk + terrain, road + walk + terrain + canvas.width * 0.3, side),
                    _jitter(rng, (110, 100, 80), 20), ID["ground"])
    for side in (-1, 1):
        canvas.poly(street.strip(road, road + walk, side), _jitter(rng, (175, 160, 165), 25), ID["sidewalk"])
        canvas.poly(street.strip(road - road * 0.03, road + walk * 0.06, side),
                    _jitter(rng, (200, 195, 190), 15), ID["sidewalk"])  # kerb
    canvas.poly(street.strip(0, road, -1) + street.strip(0, road, 1)[::-1],
                _jitter(rng, (85, 85, 90), 20), ID["road"])
    _lane_marks(canvas, rng, street)


def _lane_marks(canvas, rng, street):
    paint = _jitter(rng, (230, 230, 225) if rng.random() < 0.8 else (220, 200, 90), 10)
    for offset in rng.choice([-0.33, 0.0, 0.33], size=rng.integers(1, 3), replace=False):
        t, dash = 0.05, rng.uniform(0.05, 0.1)
        while t < 1.0:
            t1 = min(1.0, t + dash * (0.3 + t))
            half = max(0.6, canvas.width * 0.004)
            x0, x1 = (street.ground_x(s, offset * street.road_near) for s in (t, t1))
            canvas.poly([(x0 - half * t, street.row(t)), (x0 + half * t, street.row(t)),
                         (x1 + half * t1, street.row(t1)), (x1 - half * t1, street.row(t1))], paint, ID["road"])
            t = t1 + dash * (0.3 + t1)


def _wall_or_fence(canvas, rng, street, side):
    """A low wall or a fence along the outer edge of one sidewalk."""
    outer = street.road_near + street.walk_near
    t0, t1 = rng.uniform(0.1, 0.4), rng.uniform(0.6, 1.0)
    x0, x1 = street.ground_x(t0, side * outer), street.ground_x(t1, side * outer)
    y0, y1 = street.row(t0), street.row(t1)
    k = canvas.height * rng.uniform(0.08, 0.18)
    label_id = ID["wall"] if rng.random() < 0.5 else ID["fence"]
    colour = _jitter(rng, (150, 140, 130) if label_id == ID["wall"] else (120, 110, 100), 25)
    if label_id == ID["wall"]:
        canvas.poly([(x0, y0), (x1, y1), (x1, y1 - k * t1), (x0, y0 - k * t0)], colour, label_id)
        return
    for s in np.linspace(t0, t1, 12):
        x, y = street.ground_x(s, side * outer), street.row(s)
        canvas.rect(x - max(1.0, 2 * s), y - k * s, x + max(1.0, 2 * s), y, colour, label_id)
    for frac in (0.35, 0.9):
        canvas.poly([(x0, y0 - k * t0 * frac), (x1, y1 - k * t1 * frac),
                     (x1, y1 - k * t1 * frac + max(1.0, 3 * t1)), (x0, y0 - k * t0 * frac + max(1.0, 3 * t0))],
                    colour, label_id)


def _tree(canvas, rng, x, y, s):
    scale = canvas.height * s
    trunk = _jitter(rng, (90, 70, 50), 15)
    tw, th = max(1.0, scale * 0.02), scale * rng.uniform(0.25, 0.45)
    canvas.rect(x - tw, y - th, x + tw, y, trunk, ID["vegetation"])
    leaf = _jitter(rng, (70, 110, 50), 30)
    for _ in range(rng.integers(3, 7)):
        canvas.ellipse(x + rng.normal(0, scale * 0.06), y - th - rng.uniform(0, scale * 0.12),
                       scale * rng.uniform(0.06, 0.13), scale * rng.uniform(0.06, 0.12),
                       _jitter(rng, leaf, 20), ID["vegetation"])


def _pole(canvas, rng, x, y, s):
    scale = canvas.height * s
    pw, ph = max(1.0, scale * 0.012), scale * rng.uniform(0.45, 0.7)
    canvas.rect(x - pw, y - ph, x + pw, y, _jitter(rng, (130, 130, 135), 25), ID["pole"])
    top = y - ph
    if rng.random() < 0.5:  # traffic sign
        r = max(1.0, scale * rng.uniform(0.03, 0.05))
        face = _jitter(rng, ((200, 30, 30), (30, 60, 180), (230, 200, 40))[rng.integers(3)], 20)
        if rng.random() < 0.5:
            canvas.ellipse(x, top + r, r, r, face, ID["traffic sign"])
        else:
            canvas.rect(x - r, top, x + r, top + 2 * r, face, ID["traffic sign"])
    else:  # traffic light: dark box with three lamps, one lit
        bw, bh = max(1.0, scale * 0.025), max(2.0, scale * 0.09)
        canvas.rect(x - bw, top, x + bw, top + bh, _jitter(rng, (35, 35, 30), 10), ID["traffic light"])
        lit = rng.integers(3)
        for i, on in enumerate(((230, 40, 30), (240, 180, 30), (40, 220, 90))):
            colour = on if i == lit else (60, 60, 55)
            canvas.ellipse(x, top + bh * (i + 0.5) / 3, bw * 0.6, bh / 8, colour, ID["traffic light"])


def _person(canvas, rng, x, y, s):
    scale = canvas.height * s
    hgt = scale * rng.uniform(0.28, 0.36)
    w = hgt * 0.16
    legs = _jitter(rng, (50, 50, 70), 30)
    canvas.rect(x - w, y - hgt * 0.45, x - w * 0.1, y, legs, ID["person"])
    canvas.rect(x + w * 0.1, y - hgt * 0.45, x + w, y, legs, ID["person"])
    canvas.rect(x - w * 1.2, y - hgt * 0.85, x + w * 1.2, y - hgt * 0.42,
                tuple(int(c) for c in rng.integers(20, 235, 3)), ID["person"])
    canvas.ellipse(x, y - hgt * 0.92, w * 0.7, hgt * 0.08, _jitter(rng, (200, 160, 130), 40), ID["person"])


def _car(canvas, rng, x, y, s):
    scale = canvas.width * s
    cw, ch = scale * rng.uniform(0.14, 0.2), scale * rng.uniform(0.07, 0.09)
    body = tuple(int(c) for c in rng.integers(10, 245, 3))
    canvas.rect(x - cw / 2, y - ch * 0.95, x + cw / 2, y - ch * 0.2, body, ID["car"])
    canvas.poly([(x - cw * 0.35, y - ch * 0.95), (x - cw * 0.25, y - ch * 1.45),
                 (x + cw * 0.25, y - ch * 1.45), (x + cw * 0.35, y - ch * 0.95)], body, ID["car"])
    glass = _jitter(rng, (60, 75, 90), 20)
    canvas.poly([(x - cw * 0.3, y - ch * 1.0), (x - cw * 0.22, y - ch * 1.38),
                 (x + cw * 0.22, y - ch * 1.38), (x + cw * 0.3, y - ch * 1.0)], glass, ID["car"])
    for wx in (x - cw * 0.32, x + cw * 0.32):
        canvas.ellipse(wx, y - ch * 0.2, cw * 0.09, ch * 0.2, (20, 20, 20), ID["car"])


def _static(canvas, rng, x, y, s):
    """A bin or a bench: the 'static' void class."""
    scale = canvas.height * s
    w, h = scale * rng.uniform(0.03, 0.06), scale * rng.uniform(0.05, 0.1)
    canvas.rect(x - w, y - h, x + w, y, _jitter(rng, (80, 90, 70), 30), ID["static"])


def _objects(canvas, rng, street):
    """Roadside and road objects, drawn far to near so nearer ones occlude."""
    road, walk = street.road_near, street.walk_near
    items = []
    for side in (-1, 1):
        for _ in range(rng.integers(1, 4)):
            items.append((rng.uniform(0.1, 1.0), _tree, side * (road + walk * rng.uniform(0.7, 1.1))))
        for _ in range(rng.integers(1, 4)):
            items.append((rng.uniform(0.1, 1.0), _pole, side * (road + walk * rng.uniform(0.1, 0.3))))
        for _ in range(rng.integers(0, 4)):
            items.append((rng.uniform(0.1, 1.0), _person, side * (road + walk * rng.uniform(0.3, 0.8))))
        if rng.random() < 0.4:
            items.append((rng.uniform(0.2, 1.0), _static, side * (road + walk * rng.uniform(0.4, 0.9))))
    for _ in range(rng.integers(1, 5)):
        items.append((rng.uniform(0.08, 0.9), _car, road * rng.uniform(-0.7, 0.7)))
    for t, draw, offset in sorted(items, key=lambda item: item[0]):
        draw(canvas, rng, street.ground_x(t, offset), street.row(t), t)


def _void_borders(canvas, rng):
    """Ego vehicle bonnet along the bottom and an out-of-roi margin: ids that must be ignored."""
    h, w = canvas.height, canvas.width
    if rng.random() < 0.8:
        ego = h * rng.uniform(0.05, 0.1)
        xs = np.linspace(0, w, 9)
        ys = h - ego * (1 - 0.5 * ((xs - w / 2) / (w / 2)) ** 2)
        canvas.poly(list(zip(xs, ys)) + [(w, h), (0, h)], _jitter(rng, (40, 40, 45), 15), ID["ego vehicle"])
    margin = max(1, int(round(w * rng.uniform(0.0, 0.01))))
    canvas.image[:, :margin] = 0
    canvas.label[:, :margin] = ID["out of roi"]


def _texture(canvas, rng):
    """Illumination field, label-dependent texture noise and slight blur (so edges are not exact)."""
    h, w = canvas.height, canvas.width
    light = cv2.resize(rng.uniform(0.75, 1.2, (3, 5)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    amplitude = np.full(256, _NOISE_DEFAULT, np.float32)
    for label_id, value in _NOISE.items():
        amplitude[label_id] = value
    noise = rng.standard_normal((h, w), dtype=np.float32) * amplitude[canvas.label]
    image = canvas.image.astype(np.float32) * light[..., None] + noise[..., None]
    image += rng.standard_normal((h, w, 3), dtype=np.float32) * 3.0
    canvas.image = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (3, 3), 0)


def render_scene(rng, height, width):
    """One scene: (RGB uint8 image (H, W, 3), labelIds uint8 map (H, W))."""
    canvas, street = _Canvas(height, width), _Street(rng, height, width)
    _sky(canvas, rng, street)
    _buildings(canvas, rng, street)
    _ground(canvas, rng, street)
    for side in (-1, 1):
        if rng.random() < 0.35:
            _wall_or_fence(canvas, rng, street, side)
    _objects(canvas, rng, street)
    _void_borders(canvas, rng)
    _texture(canvas, rng)
    return canvas.image, canvas.label


# Context scenes: one texture, classes told apart by extent or by position (see render_context_scene).
_SHARED = (120, 110, 100)      # building (large) and car (small) alike
_PATCH = (60, 140, 70)         # person (above the band) and rider (below) alike
_CONTEXT_NOISE = 10.0          # the same for every pixel: no class has a texture of its own


def _on_road(canvas, x0, y0, x1, y1):
    return (canvas.label[max(y0, 0):y1, max(x0, 0):x1] == ID["road"]).all()


def render_context_scene(rng, height, width):
    """A scene whose classes need context (issue: a data set where the architecture matters).

    - building and car: rectangles of one texture; a building is 32-128 px on a side (buildings may
      overlap, and the band may cross one), a car 3-12 px on the road: only the extent tells them
      apart, and inside a building nothing does within 16 px;
    - person and rider: patches of another shared texture, 6-14 px, above (person) or below
      (rider) a sidewalk band 4-60 px away: only the band's position tells them apart;
    - poles: lines 1-2 px wide, which a coarse output stride loses;
    - road elsewhere. Noise, illumination and blur are the same for every class.
    Returns (RGB uint8 image (H, W, 3), labelIds uint8 map (H, W))."""
    canvas = _Canvas(height, width)
    canvas.rect(0, 0, width, height, _jitter(rng, (70, 70, 75), 10), ID["road"])
    for _ in range(int(rng.integers(2, 5))):
        side_h, side_w = (int(rng.integers(32, 129)) for _ in range(2))
        x0, y0 = int(rng.integers(-side_w // 2, width)), int(rng.integers(-side_h // 2, height))
        canvas.rect(x0, y0, x0 + side_w, y0 + side_h, _jitter(rng, _SHARED, 6), ID["building"])
    band = int(rng.integers(int(0.35 * height), int(0.65 * height)))
    canvas.rect(0, band, width, band + int(rng.integers(4, 9)), _jitter(rng, (180, 170, 190), 8), ID["sidewalk"])
    for _ in range(int(rng.integers(6, 14))):
        side_h, side_w = (int(rng.integers(3, 13)) for _ in range(2))
        x0, y0 = int(rng.integers(0, width - side_w)), int(rng.integers(0, height - side_h))
        if _on_road(canvas, x0 - 2, y0 - 2, x0 + side_w + 2, y0 + side_h + 2):
            canvas.rect(x0, y0, x0 + side_w - 1, y0 + side_h - 1, _jitter(rng, _SHARED, 6), ID["car"])  # inclusive
    for _ in range(int(rng.integers(6, 14))):
        size, above = int(rng.integers(6, 15)), bool(rng.random() < 0.5)
        gap = int(rng.integers(4, 61))
        y0 = band - gap - size if above else band + 8 + gap
        x0 = int(rng.integers(0, width - size))
        if 0 <= y0 and y0 + size <= height and _on_road(canvas, x0 - 1, y0 - 1, x0 + size + 1, y0 + size + 1):
            canvas.ellipse(x0 + size / 2, y0 + size / 2, size / 2, size / 2, _jitter(rng, _PATCH, 6),
                           ID["person"] if above else ID["rider"])
    for _ in range(int(rng.integers(3, 9))):
        x, y, length = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(10, 61))
        thickness = int(rng.integers(1, 3))
        canvas.rect(x, y, x + thickness - 1, min(y + length, height), _jitter(rng, (230, 200, 40), 10), ID["pole"])
    light = cv2.resize(rng.uniform(0.8, 1.15, (3, 5)).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    image = canvas.image.astype(np.float32) * light[..., None]
    image += rng.standard_normal((height, width, 1), dtype=np.float32) * _CONTEXT_NOISE
    image += rng.standard_normal((height, width, 3), dtype=np.float32) * 3.0
    canvas.image = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (3, 3), 0)
    return canvas.image, canvas.label


SCENES = {"street": render_scene, "context": render_context_scene}


def scene(seed, split, index, height, width, shuffled_labels=False, scenes="street"):
    """Scene ``index`` of ``split`` of the kind ``scenes`` (``SCENES``); ``shuffled_labels``: its
    label map's pixels permuted at random, so that the labels carry no information about the image
    (the negative control of the search verdict, docs/search_decisions.md)."""
    image, label = SCENES[scenes](np.random.default_rng([seed, _SPLIT_KEYS[split], index]), height, width)
    if shuffled_labels:
        rng = np.random.default_rng([seed, _SPLIT_KEYS[split], index, 1])
        label = rng.permutation(label.ravel()).reshape(label.shape)
    return image, label


def write_split(root, split, count, height, width, seed, shuffled_labels=False, scenes="street"):
    """Write `count` scenes of `split` under `root`; returns their sample names."""
    names = []
    for index in range(count):
        cities = CITIES[split]
        city = cities[index % len(cities)]
        name = f"{city}_{index // len(cities):06d}_{index:06d}"
        image, label = scene(seed, split, index, height, width, shuffled_labels, scenes)
        for sub, suffix, array in ((IMAGE_DIR, IMAGE_SUFFIX, image[..., ::-1]), (LABEL_DIR, LABEL_SUFFIX, label)):
            folder = os.path.join(root, sub, split, city)
            os.makedirs(folder, exist_ok=True)
            if not cv2.imwrite(os.path.join(folder, name + suffix), array):
                raise UserError(f"could not write '{os.path.join(folder, name + suffix)}'")
        names.append(name)
    return names


def _write(path, array=None, mask=None, palette=None, text=None):
    """Write an RGB image (JPEG or PNG by extension), an index mask PNG (palette PNG with `palette`),
    or a text file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if text is not None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    if mask is not None:
        image = Image.fromarray(mask, "L")
        if palette is not None:
            image = image.convert("P")  # an L image's values are kept as the P indices
            image.putpalette(palette.reshape(-1).tolist())
        image.save(path)
        return
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.endswith(".jpg") else []
    if not cv2.imwrite(path, array[..., ::-1], params):
        raise UserError(f"could not write '{path}'")


def _scenes(split, count, height, width, seed, shuffled_labels=False, scenes="street"):
    """(name, RGB image, train-id map) of the scenes of `split`."""
    for index in range(count):
        image, label_ids = scene(seed, split, index, height, width, shuffled_labels, scenes)
        yield f"{split}_{index:05d}", image, ID_TO_TRAIN_ID[label_ids]


def _write_voc(root, split, scenes):
    voc = os.path.join(root, "VOCdevkit", "VOC2012")
    palette = datasets.VOC_TABLE.palette()
    palette[255] = (224, 224, 192)  # VOC's border colour
    names = []
    for name, image, train_ids in scenes:
        _write(os.path.join(voc, "JPEGImages", name + ".jpg"), image)
        _write(os.path.join(voc, "SegmentationClass", name + ".png"), mask=train_ids, palette=palette)
        names.append(name)
    _write(os.path.join(voc, "ImageSets", "Segmentation", split + ".txt"), text="".join(n + "\n" for n in names))


def _write_ade20k(root, split, scenes):
    ade = os.path.join(root, "ADEChallengeData2016")
    folder = datasets.ADE20K_SPLITS[split]
    for name, image, train_ids in scenes:
        _write(os.path.join(ade, "images", folder, f"ADE_{name}.jpg"), image)
        annotation = np.where(train_ids == datasets.IGNORE_LABEL, 0, train_ids.astype(np.int32) + 1).astype(np.uint8)
        _write(os.path.join(ade, "annotations", folder, f"ADE_{name}.png"), mask=annotation)


def custom_classes_text():
    """classes.txt of the custom layout: the street class names, colours on every other line
    (the rest take the default colours)."""
    lines = [f"{name} {' '.join(map(str, colour))}" if index % 2 == 0 else name
             for index, (name, colour) in enumerate(zip(TRAIN_CLASS_NAMES, TRAIN_ID_PALETTE))]
    return "\n".join(lines) + "\n"


def _write_custom(root, split, scenes):
    _write(os.path.join(root, datasets.CLASSES_FILE), text=custom_classes_text())
    for name, image, train_ids in scenes:
        _write(os.path.join(root, "images", split, name + ".png"), image)
        _write(os.path.join(root, "masks", split, name + ".png"), mask=train_ids)


LAYOUT_WRITERS = {"voc": _write_voc, "ade20k": _write_ade20k, "custom": _write_custom}


def generate(output_path, num_train, num_val, height, width, seed=0, overwrite=False, dataset="cityscapes",
             shuffled_labels=False, scenes="street"):
    """Write a synthetic tree in `dataset`'s layout at `output_path` (built in a temporary dir, then renamed).

    The data root to convert: `output_path` (VOC: its VOCdevkit/VOC2012, ADE20K: its ADEChallengeData2016,
    which build_mindrecord.py also finds from `output_path`)."""
    datasets.get_dataset(dataset)
    if height < 16 or width < 16:
        raise UserError(f"image size {height}x{width} is too small: use at least 16x16")
    if num_train < 0 or num_val < 0:
        raise UserError("--num_train and --num_val must be >= 0")
    if os.path.exists(output_path) and (not os.path.isdir(output_path) or os.listdir(output_path)):
        if not overwrite:
            raise UserError(f"output '{output_path}' exists and is not empty: choose another path "
                            "or pass --overwrite")
    parent = check_output_location(os.path.dirname(os.path.abspath(output_path)), "folder", "--output_path's parent")
    os.makedirs(parent, exist_ok=True)
    remove_stale_temporaries(parent, os.path.basename(os.path.abspath(output_path)))
    with atomic_folder(output_path, replace=True) as partial:
        for split, count in (("train", num_train), ("val", num_val)):
            if dataset == "cityscapes":
                write_split(partial, split, count, height, width, seed, shuffled_labels, scenes)
            else:
                LAYOUT_WRITERS[dataset](partial, split, _scenes(split, count, height, width, seed, shuffled_labels,
                                                                scenes))
    return output_path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a synthetic street-scene data set in a data set's layout.")
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--dataset", default="cityscapes", choices=datasets.NAMES, help="layout (default cityscapes)")
    parser.add_argument("--num_train", type=int, default=20)
    parser.add_argument("--num_val", type=int, default=10)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output_path")
    parser.add_argument("--shuffled_labels", action="store_true",
                        help="permute each label map's pixels: labels without information (the search "
                             "verdict's negative control)")
    parser.add_argument("--scenes", default="street", choices=sorted(SCENES),
                        help="street: the demo's street scenes; context: classes that only extent or position "
                             "tells apart, sizes from 3 to 128 px and 1-px poles (render_context_scene)")
    args = parser.parse_args(argv)
    generate(args.output_path, args.num_train, args.num_val, args.height, args.width, args.seed, args.overwrite,
             args.dataset, args.shuffled_labels, args.scenes)
    print(f"wrote {args.num_train} train + {args.num_val} val images to {args.output_path}")


if __name__ == "__main__":
    run_main(main)
