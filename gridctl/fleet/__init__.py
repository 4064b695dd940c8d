"""Self-hosted runners on this host: JIT configuration files and the runner supervisor.

* :mod:`.jitfile` — where a declared runner's JIT configuration lives (one 0600 file per
  runner under the manifest's ``runner_dir`` / ``jit_config.write_to``), writing it atomically,
  refusing paths that leave the manifest's folder.
* :mod:`.waiting` — the bounded wait for a busy runner to finish its job before it is deleted.
* :mod:`.supervisor` — ``gridctl runners run``: one process per JIT file, restarts with
  exponential backoff, SIGINT then SIGKILL on shutdown.

A JIT configuration is a credential. It is read from GitHub's answer straight into a
:class:`~gridctl.manifest.sources.Sensitive`, written to its own file and handed to the runner
process through that file (or the environment) — never put in a change, a plan, the journal,
the state, a log line or an exception message.
"""
