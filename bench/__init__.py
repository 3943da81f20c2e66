"""``make bench`` / ``python -m bench``: speed, size, memory and accuracy of the shipped face model,
side by side with the systems users would pick instead, measured in one run on this machine.

Every configuration runs in its own child process (``bench.worker``) so that peak RSS is its own.
"""
