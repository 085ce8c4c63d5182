#!/usr/bin/python3
"""Dump a hung vmtest guest's vCPUs through qemu's QMP socket, then quit qemu.
    tools/vmtest/qmp.py SOCKET [--map KALLSYMS] [--quit]
Prints `info cpus`, `info registers -a`, and for each vCPU its RIP and the 64
quadwords at its RSP (`x/64gx`, read in that vCPU's address space; VMTEST_STACK_WORDS
sets how many: a slab allocation from a BPF program in __schedule is deeper). With a
copy of the guest's /proc/kallsyms (or a System.map of a kernel booted with
nokaslr), words pointing into kernel text get their symbol, which turns the
stack dump into a rough backtrace.
QMP's human-monitor-command returns plain text, with no terminal escapes.
"""
import argparse
import bisect
import json
import os
import re
import socket
import sys

STACK_WORDS = max(1, min(2048, int(os.environ.get("VMTEST_STACK_WORDS") or 64)))


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(path)
        self.buf = b""
        self.read()  # greeting
        self.call("qmp_capabilities")

    def read(self):
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                msg = json.loads(line)
                if "event" not in msg:
                    return msg
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("qemu closed the QMP socket")
            self.buf += chunk

    def call(self, cmd, **args):
        self.sock.sendall(json.dumps({"execute": cmd, "arguments": args}).encode() + b"\n")
        msg = self.read()
        if "error" in msg:
            raise RuntimeError(f"{cmd}: {msg['error'].get('desc')}")
        return msg.get("return")

    def hmp(self, line, cpu=None):
        args = {"command-line": line}
        if cpu is not None:
            args["cpu-index"] = cpu
        # HMP ends its lines with \r\n.
        return (self.call("human-monitor-command", **args) or "").replace("\r", "")


class Symbols:
    def __init__(self, path):
        self.addrs, self.names = [], []
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] not in "tTwW":
                    continue
                a = int(parts[0], 16)
                self.addrs.append(a)
                self.names.append(" ".join(parts[2:4]))
        order = sorted(range(len(self.addrs)), key=self.addrs.__getitem__)
        self.addrs = [self.addrs[i] for i in order]
        self.names = [self.names[i] for i in order]
        self.end = self.addrs[-1] if self.addrs else 0

    def name(self, addr):
        a = addr
        if not self.addrs or a < self.addrs[0] or a > self.end:
            return None
        i = bisect.bisect_right(self.addrs, a) - 1
        # Past the end of a function by more than any function is long:
        # data, or a gap between kernel text and modules.
        if a - self.addrs[i] > 0x8000:
            return None
        return f"{self.names[i]}+0x{a - self.addrs[i]:x}"


def reg(text, name):
    m = re.search(rf"\b{name}=([0-9a-f]+)", text)
    return int(m.group(1), 16) if m else None


def dump_cpu(q, cpu, syms):
    regs = q.hmp("info registers", cpu)
    rip, rsp = reg(regs, "RIP"), reg(regs, "RSP")
    sym = syms.name(rip) if (syms and rip is not None) else None
    print(f"--- vCPU {cpu}: RIP={rip:#018x} {sym or ''}  RSP={rsp:#018x}"
          if rip is not None and rsp is not None else f"--- vCPU {cpu}: no RIP/RSP")
    if rsp is None:
        return
    words = q.hmp(f"x/{STACK_WORDS}gx {rsp:#x}", cpu)
    print(words.rstrip())
    if not syms:
        return
    # Lines read "ADDR: 0xWORD 0xWORD": only the words carry the 0x.
    for w in re.findall(r"0x([0-9a-f]{16})", words):
        s = syms.name(int(w, 16))
        if s:
            print(f"  [{w}] {s}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--map")
    ap.add_argument("--quit", action="store_true")
    a = ap.parse_args()
    q = Qmp(a.socket)
    syms = None
    if a.map:
        try:
            syms = Symbols(a.map)
        except OSError as e:
            print(f"vmtest: no symbols: {e}", file=sys.stderr)
    # Stop the vCPUs first: every register and stack below is then from
    # one instant, and a spinning vCPU cannot move on between the reads.
    q.call("stop")
    print("=== info cpus")
    cpus = q.hmp("info cpus")
    print(cpus.rstrip())
    print("=== info registers -a")
    print(q.hmp("info registers -a").rstrip())
    print(f"=== stacks (x/{STACK_WORDS}gx at each vCPU's RSP)")
    for n in sorted(int(c) for c in re.findall(r"CPU #(\d+)", cpus)):
        dump_cpu(q, n, syms)
    if a.quit:
        q.call("quit")


if __name__ == "__main__":
    sys.exit(main())
