"""The model's threads before the event loop's, when the CPU is short.

Under overload, clients whose requests are refused send the next one at once,
and answering them keeps the server's event loop busy without pause: the loop,
the clients and the model's compute threads then share the cores as equals,
and the accepted requests, whose latency is the queue divided by the model's
throughput, wait several times longer. Giving the event loop's thread a lower
priority (a higher `nice`, Linux: per thread) hands the cores to the model
whenever both want them: the loop still runs whenever the model leaves a core
free, so without overload nothing changes, and under overload the refusals slow
down instead of the model.

A thread inherits its creator's priority, so the threads that call the model
must exist before the event loop's priority is lowered: `start_worker_threads`
starts all of an executor's threads at once (`ThreadPoolExecutor` starts them
one per `submit`, from whichever thread submits: here the event loop).

Example:
>>> executor = concurrent.futures.ThreadPoolExecutor(max_workers=4)
>>> start_worker_threads(executor, 4)        # in the main thread
>>> lower_thread_priority(10)                # in the event loop's thread, when it starts
"""

import logging
import os
import sys
import threading

log = logging.getLogger("bertlab.serving")


def start_worker_threads(executor, count):
    """Starts `count` worker threads of `executor` now, in the calling thread (so they
    take its priority), by giving each a task that waits for all the others."""
    barrier = threading.Barrier(count + 1)
    futures = [executor.submit(barrier.wait, 10) for _ in range(count)]
    barrier.wait(10)
    for future in futures:
        future.result()


def lower_thread_priority(increment):
    """Adds `increment` to the calling thread's `nice` value (Linux: this thread only;
    threads it starts later inherit it). Returns the new value, or None where threads
    have no priority of their own or the call fails (logged)."""
    if not increment:
        return None
    if not sys.platform.startswith("linux"):
        log.warning("Thread priorities are not available here; the event loop keeps its "
                    "priority.")
        return None
    thread_id = threading.get_native_id()
    try:
        value = os.getpriority(os.PRIO_PROCESS, thread_id) + int(increment)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, value))
        return os.getpriority(os.PRIO_PROCESS, thread_id)
    except OSError as error:
        log.warning("Could not lower the event loop's priority: %s", error)
        return None
