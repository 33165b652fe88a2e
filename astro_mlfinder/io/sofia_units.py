"""SoFiA-2's unit strings: writing them (`sofia_unit_string`) and reading them back (`parse_sofia_unit`).

SoFiA writes composite units left to right (``Jy/beam*Hz`` is Jy/beam times
Hz, unlike astropy's generic parser): flux density first, then ``/beam``,
then the other units.
"""

import re

from astropy import units as u

__all__ = ["sofia_unit_string", "parse_sofia_unit"]

_FLUX_DENSITY = u.Jy.physical_type


def _unit_term(base, power):
    name = base.to_string()
    if power == 1:
        return name
    power = int(power) if float(power).is_integer() else power
    return f"{name}{power}"


def sofia_unit_string(unit):
    """Return SoFiA's spelling of ``unit`` (``'Jy/beam'``, ``'Jy*Hz'``, ``'Jy/beam*Hz'``...).

    Flux-density units come first, then ``/beam``, then other units
    multiplied (``*``) or divided (``/``) left to right.  Dimensionless or
    missing units give ``''``.
    """
    if unit is None:
        return ""
    if isinstance(unit, str):
        return unit.strip()
    if isinstance(unit, u.UnrecognizedUnit):
        return unit.to_string()
    unit = u.Unit(unit)
    if unit == u.dimensionless_unscaled:
        return ""
    if not isinstance(unit, u.CompositeUnit) or unit.scale != 1:
        if unit.scale != 1 and isinstance(unit, u.CompositeUnit):
            return unit.to_string("generic").replace(" ", "")
        return unit.to_string()
    terms = list(zip(unit.bases, unit.powers, strict=True))
    flux = [(b, p) for b, p in terms if p > 0 and b.physical_type == _FLUX_DENSITY]
    beam = [(b, p) for b, p in terms if b == u.beam and p < 0]
    numer = [(b, p) for b, p in terms if p > 0 and (b, p) not in flux]
    denom = [(b, p) for b, p in terms if p < 0 and (b, p) not in beam]
    text = "*".join(_unit_term(b, p) for b, p in flux)
    for b, p in beam:
        text += "/" + _unit_term(b, -p)
    for b, p in numer:
        text += ("*" if text else "") + _unit_term(b, p)
    if not text:
        text = "1"
    for b, p in denom:
        text += "/" + _unit_term(b, -p)
    return text


def parse_sofia_unit(text):
    """Parse a SoFiA unit string, evaluating ``*`` and ``/`` left to right.

    Returns None for an empty or ``-`` unit and an
    `~astropy.units.UnrecognizedUnit` for strings astropy does not know.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or text == "-":
        return None
    parts = re.split(r"([*/])", text)
    try:
        unit = (
            u.Unit(parts[0].strip())
            if parts[0].strip() not in ("", "1")
            else u.dimensionless_unscaled
        )
        for op, token in zip(parts[1::2], parts[2::2], strict=True):
            term = u.Unit(token.strip())
            unit = unit * term if op == "*" else unit / term
        return unit
    except (ValueError, TypeError):
        return u.Unit(text, parse_strict="silent")
