"""`wloadctl import crontab`: crontab lines as Job documents that `wloadctl apply -f` and the Job
schema accept."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.test_cli import Fake, _no_env_server, fake, run  # noqa: F401 (fixtures)
from wloadctl.cli import crontab_import
from wloadctl.cli.crontab_import import CrontabError, convert, split_percent
from wloadctl.cli.main import main
from wloadctl.model import schemas
from wloadctl.model.documents import load_documents, parse_documents
from wloadctl.proto.v1 import jobs_pb2

CRONTAB = r"""# m h  dom mon dow   command
SHELL=/bin/sh
PATH=/usr/local/bin:/usr/bin:/bin
MAILTO=ops@example.com
CRON_TZ=Europe/Berlin

30 2 * * *   /usr/local/bin/backup.sh --full >> /var/log/backup.log 2>&1
*/15 8-18 * * mon-fri cd /srv/app && ./sync.sh
@daily /usr/local/bin/backup.sh --incremental
@reboot /usr/local/bin/start-queue
   # an indented comment
0 6 1 * * mail -s "monthly report" ops@example.com%The report%is 100\% ready
5 4 * * sun  date +\%Y-\%m-\%d > /tmp/today
LOG_LEVEL="debug"
@hourly /opt/etl/bin/extract --since 1h
"""


def _jobs(text: str, **options: Any) -> list[dict[str, Any]]:
    return convert(text, "crontab", **options).documents


def _specs(yaml_text: str) -> list[jobs_pb2.JobSpec]:
    return parse_documents(yaml_text)


def test_a_user_crontab() -> None:
    result = convert(CRONTAB, "crontab")
    docs = result.documents
    assert [d["metadata"]["name"] for d in docs] == ["backup", "sync", "backup-2", "mail", "date", "extract"]
    backup = docs[0]
    assert backup["spec"]["schedules"] == [{"cron": "30 2 * * *"}]
    assert backup["spec"]["script"] == "/usr/local/bin/backup.sh --full >> /var/log/backup.log 2>&1"
    assert backup["spec"]["timeZone"] == "Europe/Berlin"  # CRON_TZ
    assert backup["spec"]["env"] == {"PATH": "/usr/local/bin:/usr/bin:/bin", "SHELL": "/bin/sh"}
    assert backup["metadata"]["description"] == \
        "crontab line 7: 30 2 * * *   /usr/local/bin/backup.sh --full >> /var/log/backup.log 2>&1"
    assert backup["metadata"]["labels"] == {"imported-from": "crontab"}
    assert "runAs" not in backup["spec"] and "domain" not in backup["metadata"]
    assert docs[1]["spec"]["schedules"] == [{"cron": "*/15 8-18 * * mon-fri"}]
    assert docs[2]["spec"]["schedules"] == [{"cron": "0 0 * * *"}]  # @daily
    assert docs[4]["spec"]["script"] == "date +%Y-%m-%d > /tmp/today"  # \% is a literal %
    assert docs[5]["spec"]["env"]["LOG_LEVEL"] == "debug"  # quotes removed, and only for the lines after it
    assert "LOG_LEVEL" not in docs[4]["spec"]["env"]
    assert docs[5]["spec"]["schedules"] == [{"cron": "0 * * * *"}]
    warnings = "\n".join(result.warnings)
    assert "crontab:10: @reboot has no equivalent" in warnings
    assert "crontab:4: MAILTO is not imported" in warnings
    assert any("MAILTO=ops@example.com" in c for c in result.comments)


def test_the_output_is_what_apply_and_the_schema_accept(tmp_path: Path) -> None:
    result = convert(CRONTAB, "crontab", domain="ops")
    text = crontab_import.render(result, "crontab")
    assert text.startswith("# 6 jobs from crontab (wloadctl import crontab)\n")
    path = tmp_path / "cron-jobs.yaml"
    path.write_text(text)
    specs, calendars, workflows = load_documents([str(path)])  # what `wloadctl apply -f` loads
    assert [s.name for s in specs] == ["backup", "sync", "backup-2", "mail", "date", "extract"]
    assert {s.domain for s in specs} == {"ops"} and not calendars and not workflows
    assert specs[0].time_zone == "Europe/Berlin" and specs[0].schedules[0].cron == "30 2 * * *"
    validator = jsonschema.Draft202012Validator(schemas.schema("Job"))
    for doc in yaml.safe_load_all(text):
        assert not list(validator.iter_errors(doc)), doc
    assert text.isascii()


def test_percent_becomes_standard_input() -> None:
    assert split_percent("date +\\%s") == ("date +%s", None)
    assert split_percent("cat%a%b") == ("cat", "a\nb\n")
    assert split_percent("cat%a\\%b%") == ("cat", "a%b\n")
    assert split_percent("wc -l%") == ("wc -l", "\n")
    assert split_percent("tr a b%x\\y") == ("tr a b", "x\\y\n")  # other backslashes stay


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="no /bin/sh")
def test_the_script_feeds_the_input_as_cron_does() -> None:
    doc = _jobs("0 6 1 * * tr a-z A-Z; cat%line one%line 100\\% two\n")[0]
    script = doc["spec"]["script"]
    # cron would run `/bin/sh -c 'tr a-z A-Z; cat'` with this input: tr reads it all, cat gets nothing.
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True, timeout=30)
    assert done.stdout == "LINE ONE\nLINE 100% TWO\n"


def test_shell_runs_the_command() -> None:
    doc = _jobs("SHELL=/bin/bash\n0 1 * * * echo {a,b}\n")[0]
    assert doc["spec"]["command"] == ["/bin/bash", "-c", "echo {a,b}"]
    assert "script" not in doc["spec"]


def test_a_system_crontab_has_a_user_column() -> None:
    text = ("SHELL=/bin/sh\n"
            "17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
            "25 6\t* * *\troot\ttest -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )\n"
            "@weekly backup /usr/local/bin/weekly.sh\n")
    docs = _jobs(text, system=True, prefix="cron-")
    assert [d["metadata"]["name"] for d in docs] == ["cron-run-parts", "cron-run-parts-2", "cron-weekly"]
    assert [d["spec"]["runAs"] for d in docs] == ["root", "root", "backup"]
    assert docs[0]["spec"]["script"] == "cd / && run-parts --report /etc/cron.hourly"
    assert docs[2]["spec"]["schedules"] == [{"cron": "0 0 * * 0"}]
    assert crontab_import.is_system_path("/etc/crontab") and crontab_import.is_system_path("/etc/cron.d/php")
    assert not crontab_import.is_system_path("/home/alice/crontab")


def test_time_zones() -> None:
    assert "timeZone" not in _jobs("0 1 * * * x\n")[0]["spec"]
    assert _jobs("0 1 * * * x\n", time_zone="Asia/Tokyo")[0]["spec"]["timeZone"] == "Asia/Tokyo"
    tz = _jobs("TZ=America/New_York\n0 1 * * * x\n", time_zone="Asia/Tokyo")[0]["spec"]
    assert tz["timeZone"] == "America/New_York" and tz["env"] == {"TZ": "America/New_York"}
    both = _jobs("TZ=America/New_York\nCRON_TZ=UTC\n0 1 * * * x\n")[0]["spec"]
    assert both["timeZone"] == "UTC" and both["env"] == {"TZ": "America/New_York"}
    posix = convert("TZ=CET-1CEST\n0 1 * * * x\n", "c")
    assert "timeZone" not in posix.documents[0]["spec"] and "TZ=CET-1CEST is no IANA time zone" in posix.warnings[0]
    assert not posix.zone_given
    assert _jobs("RANDOM_DELAY=10\n0 1 * * * x\n")[0]["spec"]["jitter"] == "10m"


def test_names_are_valid_unique_and_deterministic() -> None:
    text = "".join(f"0 {h} * * * /opt/Tools/Nightly Report!.sh --x\n" for h in range(3))
    text += "0 5 * * * FOO=1 sudo -u app nice -n 5 /usr/bin/python3 job.py\n"
    text += "0 6 * * * >/dev/null\n"
    text += "0 7 * * * flock -n /tmp/lock timeout 30 /usr/bin/rsync -a /a /b\n"
    names = [d["metadata"]["name"] for d in _jobs(text)]
    assert names == ["Nightly", "Nightly-2", "Nightly-3", "python3", "cron-job", "rsync"]
    assert names == [d["metadata"]["name"] for d in _jobs(text)]
    long = _jobs(f"0 1 * * * /bin/{'x' * 300}\n")[0]["metadata"]["name"]
    assert len(long) <= 128
    _specs(crontab_import.render_documents(_jobs(text)))  # all valid names


@pytest.mark.parametrize(("line", "message"), [
    ("61 * * * * /bin/true", "crontab:2: spec.schedules[0].cron: '61 * * * *' is not a valid cron expression"),
    ("* * * /bin/true", "crontab:2: not a crontab line"),
    ("@fortnightly /bin/true", "crontab:2: unknown schedule '@fortnightly'"),
    ("@daily", "crontab:2: no command after the schedule"),
    ("MY-VAR=1", "crontab:2: 'MY-VAR' is not an environment variable name"),
    ("CRON_TZ=Europe/Berln", "crontab:2: CRON_TZ: unknown time zone 'Europe/Berln'"),
    ("RANDOM_DELAY=soon", "crontab:3: RANDOM_DELAY must be a whole number of minutes"),
])
def test_bad_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(CrontabError) as failure:
        convert(f"# header\n{line}\n0 1 * * * /bin/true\n", "crontab")
    assert message in str(failure.value)


def test_every_bad_line_is_reported() -> None:
    with pytest.raises(CrontabError) as failure:
        convert("bad line\n0 1 * * * ok\nanother bad one\n", "c")
    assert [p.split(":")[1] for p in failure.value.problems] == ["1", "3"]


def test_a_system_line_without_a_user() -> None:
    with pytest.raises(CrontabError, match="crontab:1: a system crontab line needs a user and a command"):
        convert("0 1 * * * root\n", "crontab", system=True)


def test_an_invalid_run_as_user_is_named() -> None:
    with pytest.raises(CrontabError, match=r"crontab:1: spec\.runAs: must be a POSIX user name"):
        convert("0 1 * * * Debian-exim /usr/sbin/exim4 -qf\n", "crontab", system=True)


# ---- the command ------------------------------------------------------------------------------


def test_import_crontab_prints_yaml_and_warns_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "crontab"
    path.write_text(CRONTAB)
    assert main(["import", "crontab", str(path), "--domain", "finance"]) == 0
    captured = capsys.readouterr()
    specs = _specs(captured.out)
    assert len(specs) == 6 and {s.domain for s in specs} == {"finance"}
    assert f"warning: {path}:10: @reboot has no equivalent" in captured.err
    assert "note: lines without CRON_TZ" not in captured.err  # CRON_TZ is set


def test_import_crontab_from_stdin_as_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("0 1 * * * /bin/backup\n"))
    assert main(["import", "crontab", "-", "-o", "json"]) == 0
    captured = capsys.readouterr()
    assert yaml.safe_load(captured.out)["jobs"][0]["metadata"]["name"] == "backup"
    assert "note: lines without CRON_TZ or TZ are read in UTC" in captured.err


def test_import_crontab_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "crontab"
    path.write_text("0 1 * * * ok\n0 25 * * * bad\n")
    assert main(["import", "crontab", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path}:2: spec.schedules[0].cron:")
    assert main(["import", "crontab", str(tmp_path / "missing")]) == 1
    assert "No such file or directory" in capsys.readouterr().err


def test_etc_crontab_is_read_as_a_system_crontab(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    real_open = open

    def fake_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if file == "/etc/crontab":
            return io.BytesIO(b"17 * * * * root run-parts /etc/cron.hourly\n")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    assert main(["import", "crontab", "/etc/crontab"]) == 0
    assert _specs(capsys.readouterr().out)[0].run_as == "root"


def test_the_output_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str], fake: Fake) -> None:  # noqa: F811
    path, jobs = tmp_path / "crontab", tmp_path / "cron-jobs.yaml"
    path.write_text(CRONTAB)
    assert main(["import", "crontab", str(path), "--prefix", "cron-"]) == 0
    jobs.write_text(capsys.readouterr().out)
    code, out, err = run(capsys, fake, "apply", "-f", str(jobs))
    assert code == 0, err
    assert out.splitlines()[0] == "job/cron-backup created (version 1)"
    assert sorted(fake.state.jobs) == ["cron-backup", "cron-backup-2", "cron-date", "cron-extract", "cron-mail",
                                       "cron-sync"]
