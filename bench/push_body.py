#!/usr/bin/env python3
"""push_body.py — the GitHub push delivery body of the webhook benchmarks.

    push_body.py FIXTURE MIN_BYTES OUT

Takes FIXTURE (tests/fixtures/webhooks/github/push.json) and adds commits of
the same shape (ids, messages, file lists) before its own, which stays the
head commit, until the compact JSON is at least MIN_BYTES long; writes it to
OUT and prints "<bytes> <commits>". Deterministic: the same arguments give
the same bytes. Used by bench/hooks_run and bench/drain_run.
"""
import copy, hashlib, json, sys
src, want, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
doc = json.load(open(src))
first = doc["commits"][0]
repo_url = doc["repository"]["html_url"]
files = ["app/models/user.rb", "app/controllers/sessions_controller.rb", "config/routes.rb",
         "app/views/layouts/application.html.erb", "spec/models/user_spec.rb", "Gemfile.lock",
         "db/migrate/20180629140000_add_index_to_users_email.rb", "README.md"]
words = ["Fix", "Add", "Refactor", "Update", "Remove", "Rename", "Test", "Document"]
def commit(i):
    c = copy.deepcopy(first)
    sha = hashlib.sha1(b"bench-commit-%d" % i).hexdigest()
    c["id"] = sha
    c["tree_id"] = hashlib.sha1(b"bench-tree-%d" % i).hexdigest()
    c["message"] = "%s %s handling (#%d)\n\nFollow-up to the review of the sign-up flow." % (
        words[i % len(words)], files[i % len(files)].rsplit("/", 1)[-1], 100 + i)
    c["timestamp"] = "2018-06-29T%02d:%02d:13+05:30" % (10 + i // 60 % 10, i % 60)
    c["url"] = "%s/commit/%s" % (repo_url, sha)
    c["added"] = [files[(i + 3) % len(files)]] if i % 3 == 0 else []
    c["removed"] = []
    c["modified"] = [files[i % len(files)], files[(i + 1) % len(files)]]
    return c
extra = []
while True:
    commits = extra + [first]  # oldest first; the fixture's commit stays the head
    doc["commits"] = commits
    doc["head_commit"] = first
    body = json.dumps(doc, separators=(",", ":")).encode()
    if len(body) >= want:
        break
    extra.append(commit(len(extra) + 1))
open(out, "wb").write(body)
print(len(body), len(commits))
