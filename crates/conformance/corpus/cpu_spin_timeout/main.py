# Attack: spin on the CPU forever.
# Expect: the 2 s wall-clock limit ends the run with status timeout (the CPU
# limit of 30 s is far away) and the output before it is delivered.
print("spinning", flush=True)
while True:
    pass
