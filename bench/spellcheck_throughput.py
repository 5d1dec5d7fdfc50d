"""`python -m bench.spellcheck_throughput`: essays per second, in one run, of

* plain pyspellchecker in one process (`unknown()` then `correction()` per unknown word; it
  checks about five essays a second, so it is timed on the first --plain-essays essays);
* our checker in one process (the symmetric-delete engine with its memo, as a worker runs it);
* the Spell Checker service with 1 and with 2 worker processes: real nats-server (JetStream
  with `sync_interval: always`, as shipped), the Content Service and the Spell Checker as
  `python -m` processes; the clock runs from the first request published to the last
  completion stored; then the same on a nats-server with JetStream's default flushing, to show
  what durable storage costs (each essay is a read, a stored object and a stored event);

plus the per-word cost of `correction()` against our engine on the same unknown words.
Writes bench/results/spellcheck_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from devstack.nats_server import NatsServer
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.mesh import subjects
from services.mesh.connection import connect_nats
from services.mesh.content_client import ContentClient
from services.mesh.event_ids import new_metadata
from services.mesh.process_stats import process_memory
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_streams
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.adapters.dictionaries import load_spellchecker
from services.spell_checker.adapters.index_cache import IndexCache
from services.spell_checker.domain.corrector import SymmetricDeleteCorrector
from services.spell_checker.domain.index import SymmetricDeleteIndex
from services.spell_checker.domain.lexicon import Lexicon
from tests.harness.coordination_harness import EventTap, ServiceProcess
from tests.harness.spellcheck_common import machine, read_essays, write_result

_MIB = 1024 * 1024


def plain_one_process(texts: list[str]) -> dict[str, object]:
    """pyspellchecker as the replaced system used it: every unknown word through correction()."""
    spellchecker = load_spellchecker("en")
    word_seconds: dict[str, float] = {}
    started = time.perf_counter()
    for text in texts:
        for word in spellchecker.unknown(spellchecker.split_words(text)):
            began = time.perf_counter()
            spellchecker.correction(word)
            word_seconds.setdefault(word, time.perf_counter() - began)
    seconds = time.perf_counter() - started
    return {
        "essays": len(texts),
        "seconds": round(seconds, 2),
        "essays_per_s": round(len(texts) / seconds, 2),
        "unknown_words_timed": len(word_seconds),
        "ms_per_correction": round(1000 * sum(word_seconds.values()) / len(word_seconds), 2),
        "_word_seconds": word_seconds,
    }


def ours_one_process(texts: list[str], cache_dir: Path) -> dict[str, object]:
    """Our checker in this process, as one worker runs it (memo starts empty)."""
    started = time.perf_counter()
    checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, cache_dir))
    checkers.preload(["en"])
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts:
        checkers.check("en", text)
    seconds = time.perf_counter() - started
    memo = checkers.corrector("en")
    return {
        "essays": len(texts),
        "load_seconds": round(load_s, 2),
        "seconds": round(seconds, 2),
        "essays_per_s": round(len(texts) / seconds, 1),
        "memo_hits": memo.hits,
        "memo_misses": memo.misses,
        "rss_mib_after": round(process_memory().rss_bytes / _MIB, 1),
    }


def per_word(words: dict[str, float], cache_dir: Path) -> dict[str, object]:
    """Our engine (no memo) on the words correction() was timed on."""
    spellchecker = load_spellchecker("en")
    lexicon = Lexicon(spellchecker.word_frequency.dictionary)
    index: SymmetricDeleteIndex = IndexCache(cache_dir).load_or_build("en", lexicon)[0]
    corrector = SymmetricDeleteCorrector(lexicon, index)
    started = time.perf_counter()
    for word in words:
        corrector.correct(word)
    ours_ms = 1000 * (time.perf_counter() - started) / len(words)
    plain_ms = 1000 * sum(words.values()) / len(words)
    return {
        "words": len(words),
        "ms_per_word_pyspellchecker": round(plain_ms, 2),
        "ms_per_word_ours": round(ours_ms, 4),
        "speed_up": round(plain_ms / ours_ms, 1),
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def service_run(
    *,
    nats: NatsServer,
    content_addr: str,
    storage_ids: list[str],
    workers: int,
    cache_dir: Path,
    log_path: Path,
    in_flight: int | None,
    neighbours: dict[str, int],
) -> dict[str, object]:
    """Start the Spell Checker with `workers` workers and push every essay through it."""
    service = ServiceProcess(
        "services.spell_checker",
        addr_variable="SPELL_CHECKER_ADDR",
        nats_url=nats.url,
        log_path=log_path,
        extra_env={
            "CONTENT_SERVICE_ADDR": content_addr,
            "SPELL_CHECKER_WORKERS": str(workers),
            "SPELL_CHECKER_INDEX_CACHE_DIR": str(cache_dir),
            "LOG_LEVEL": "INFO",  # the default: one line per essay
            **({"SPELL_CHECKER_IN_FLIGHT": str(in_flight)} if in_flight else {}),
        },
    )
    client, js = await connect_nats(_nats_settings(nats.url), "bench")
    tap = EventTap(js, subjects.ESSAY_SPELLCHECK_COMPLETED)
    await tap.start()
    try:
        launched = time.monotonic()
        await service.start(timeout_s=60)
        ready_s = time.monotonic() - launched
        batch_id = f"bench-{workers}-{time.time_ns()}"
        publisher = EventPublisher(js, "bench")
        assert service.process is not None
        watched = {
            **neighbours,
            "bench_driver": os.getpid(),
            "spell_checker_main": service.process.pid,
            **{f"worker_{n}": pid for n, pid in enumerate(_children(service.process.pid))},
        }
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        started = time.monotonic()
        await asyncio.gather(
            *(
                publisher.publish(
                    events_pb2.EssayLifecycleSpellcheckRequest(
                        metadata=new_metadata("bench", correlation_id=batch_id),
                        batch_id=batch_id,
                        essay_id=f"{batch_id}-{n}",
                        text_storage_id=storage_id,
                        language="en",
                    )
                )
                for n, storage_id in enumerate(storage_ids)
            )
        )
        while len(tap.of(events_pb2.EssaySpellcheckCompleted, {batch_id})) < len(storage_ids):
            if time.monotonic() - started > 600:
                raise TimeoutError("the service did not answer every request in 10 minutes")
            await asyncio.sleep(0.02)
        cpu_used = {
            name: round(cpu_seconds(pid) - cpu_before[name], 2) for name, pid in watched.items()
        }
        timed = tap.timed(events_pb2.EssaySpellcheckCompleted, {batch_id})
        seconds = max(at for at, _ in timed) - started
        failed = sum(1 for _, e in timed if e.status != common_pb2.SPELLCHECK_STATUS_SUCCESS)
        assert service.process is not None
        pids = [service.process.pid, *_children(service.process.pid)]
        memory = [process_memory(pid) for pid in pids]
    finally:
        await tap.stop()
        await service.stop()
        await client.drain()
    ready = _ready_entry(log_path)
    return {
        "workers": workers,
        "in_flight": ready["in_flight"],
        "essays": len(storage_ids),
        "failed": failed,
        "seconds": round(seconds, 2),
        "essays_per_s": round(len(storage_ids) / seconds, 1),
        "start_up_s_logged": ready["start_up_s"],
        "start_until_serving_s": round(ready_s, 2),
        "cpu_seconds_during_run": cpu_used,
        "rss_mib_at_ready": ready["rss_total_mib"],
        "rss_mib_after_run": [round(m.rss_bytes / _MIB, 1) for m in memory],
        "rss_mib_total_after_run": round(sum(m.rss_bytes for m in memory) / _MIB, 1),
        "pss_mib_total_after_run": round(sum(m.pss_bytes for m in memory) / _MIB, 1),
    }


def _ready_entry(log_path: Path) -> dict[str, object]:
    for line in log_path.read_text().splitlines():
        if '"spell checker ready"' in line:
            entry: dict[str, object] = json.loads(line)
            return entry
    raise RuntimeError(f"no ready line in {log_path}")


def _nats_settings(url: str) -> NatsSettings:
    return dataclasses.replace(NatsSettings.from_env(), servers=(url,))


async def service_runs(
    essays: list[tuple[str, str]],
    worker_counts: list[int],
    in_flight: int | None,
    scratch: Path,
    *,
    sync_always: bool,
) -> list[dict[str, object]]:
    """The service on a fresh nats-server and Content Service, once per worker count."""
    scratch = scratch / ("sync-always" if sync_always else "sync-default")
    nats = NatsServer(scratch / "nats", sync_always=sync_always)
    nats.start()
    content_service = ServiceProcess(
        "services.content_service",
        addr_variable="CONTENT_SERVICE_ADDR",
        nats_url=nats.url,
        log_path=scratch / "content.log",
        extra_env={"LOG_LEVEL": "WARNING"},
    )
    try:
        await content_service.start()
        settings = _nats_settings(nats.url)
        client, js = await connect_nats(settings, "bench-setup")
        await ensure_streams(js, settings)
        await client.drain()
        content = ContentClient(content_service.addr)
        storage_ids = [
            await content.put(
                text.encode(), common_pb2.CONTENT_KIND_EXTRACTED_TEXT, "text/plain; charset=utf-8"
            )
            for _, text in essays
        ]
        await content.close()
        cache_dir = scratch / "index"
        assert nats.process is not None and content_service.process is not None
        neighbours = {
            "nats_server": nats.process.pid,
            "content_service": content_service.process.pid,
        }
        runs = []
        for workers in worker_counts:
            runs.append(
                await service_run(
                    nats=nats,
                    content_addr=content_service.addr,
                    storage_ids=storage_ids,
                    workers=workers,
                    cache_dir=cache_dir,
                    log_path=scratch / f"spell-{workers}.log",
                    in_flight=in_flight,
                    neighbours=neighbours,
                )
            )
            runs[-1]["nats_sync_always"] = sync_always
            print(f"service: {runs[-1]}", file=sys.stderr)
        return runs
    finally:
        await content_service.stop()
        nats.stop()


def main() -> None:
    """Run every measurement and write bench/results/spellcheck_throughput.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--essays", type=int, default=500)
    parser.add_argument("--plain-essays", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--in-flight", type=int, default=None, help="SPELL_CHECKER_IN_FLIGHT (default: workers)"
    )
    args = parser.parse_args()
    essays = read_essays(args.essays)
    texts = [text for _, text in essays]
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        plain = plain_one_process(texts[: args.plain_essays])
        print(f"plain: { {k: v for k, v in plain.items() if k[0] != '_'} }", file=sys.stderr)
        ours = ours_one_process(texts, scratch / "index")
        print(f"ours: {ours}", file=sys.stderr)
        words = per_word(plain.pop("_word_seconds"), scratch / "index")  # type: ignore[arg-type]
        print(f"per word: {words}", file=sys.stderr)
        runs = asyncio.run(
            service_runs(essays, args.workers, args.in_flight, scratch, sync_always=True)
        )
        relaxed = asyncio.run(
            service_runs(essays, args.workers, args.in_flight, scratch, sync_always=False)
        )
    plain_rate = float(plain["essays_per_s"])  # type: ignore[arg-type]
    result = {
        "what": "essays/s on the first corpus essays; see the module docstring for the method",
        "plain_pyspellchecker_one_process": plain,
        "ours_one_process": ours,
        "per_word_correction": words,
        "service": runs,
        "service_nats_default_sync": relaxed,
        "ratios_to_plain": {
            "ours_one_process": round(float(ours["essays_per_s"]) / plain_rate, 1),  # type: ignore[arg-type]
            **{
                f"service_{r['workers']}_workers": round(float(r["essays_per_s"]) / plain_rate, 1)  # type: ignore[arg-type]
                for r in runs
            },
            **{
                f"service_{r['workers']}_workers_nats_default_sync": round(
                    float(r["essays_per_s"]) / plain_rate,  # type: ignore[arg-type]
                    1,
                )
                for r in relaxed
            },
        },
        "machine": machine(),
    }
    path = write_result("spellcheck_throughput", result)
    print(json.dumps(result["ratios_to_plain"]), f"-> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
