"""Progress of long loops over items (table rows, sweep points), with an estimate of the time left."""

import sys
import time

__all__ = ["ItemProgress"]


class ItemProgress:
  """Prints "what i/n: name" as each item starts, with the time per item so far and what is left.

  The estimate is the mean time of the items finished in this process times
  the items left (items read back from disk count as they take). `verbose=0`
  prints nothing.
  """

  def __init__(self, what, total, *, verbose=1, stream=None, clock=time.monotonic):
    self.what, self.total, self.verbose = what, int(total), verbose
    self.stream = stream or sys.stdout
    self.clock = clock
    self.done = 0
    self.started = clock()

  def begin(self, name):
    """Announces the next item."""
    if not self.verbose:
      return
    line = f"[{self.what} {self.done + 1}/{self.total}] {name}"
    if self.done:
      per_item = (self.clock() - self.started) / self.done
      left = per_item * (self.total - self.done)
      line += (f" ({_minutes(per_item)} per {self.what} so far, about {_minutes(left)} "
               "left)")
    print(line, file=self.stream, flush=True)

  def end(self):
    """Marks the current item finished."""
    self.done += 1


def _minutes(seconds):
  return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
