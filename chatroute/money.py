"""The one way chatroute writes an amount of money, in the TUI, the CLI, exports and messages.

Precision grows as amounts shrink, so a sub-cent turn never reads as "$0.00" and a total is
never cluttered with digits nobody reads:

| amount (absolute)     | shown as                          | examples                      |
|-----------------------|-----------------------------------|-------------------------------|
| unknown (None, NaN)   | n/a                               | n/a                           |
| exactly 0             | cents                             | $0.00                         |
| 1 and over            | cents, thousands separated        | $12.35, $1,234.50             |
| 0.1 to 1              | cents                             | $0.25                         |
| 0.01 to 0.1           | tenths of a cent, trailing 0 cut  | $0.047, $0.05                 |
| 0.000001 to 0.01      | two significant digits            | $0.0042, $0.00042             |
| under 0.000001        | a bound, never "free"             | <$0.000001                    |

A negative amount is the same with a leading minus: -$0.047.
"""

from __future__ import annotations

import math


def usd(amount: float | None) -> str:
    """`amount` US dollars as text, by the rules above."""
    if amount is None or not math.isfinite(amount):
        return "n/a"
    if amount == 0:
        return "$0.00"
    sign = "-" if amount < 0 else ""
    a = abs(amount)
    if a >= 1:
        return f"{sign}${a:,.2f}"
    if a >= 0.1 or round(a, 3) >= 0.1:  # $0.09995 is written as cents, not as "$0.1"
        return f"{sign}${a:.2f}"
    if a >= 0.01:
        return f"{sign}${a:.3f}".rstrip("0").rstrip(".")
    if a < 1e-6:
        return f"{sign}<$0.000001"
    decimals = -math.floor(math.log10(a)) + 1  # two significant digits: 0.00042 -> 5 decimals
    return f"{sign}${a:.{decimals}f}".rstrip("0").rstrip(".")


def marked_usd(amount: float | None, *, estimated: int | bool = 0, unknown: int = 0) -> str:
    """An amount as `chatroute costs` and the costs screen write it: ≈ when part of it rests on
    usage that was estimated (never on n/a: no amount is summed there), and `(+n n/a)` for the
    turns left out of it because their price is unknown."""
    return ("≈" if estimated and amount is not None else "") + usd(amount) + (f" (+{unknown} n/a)" if unknown else "")
