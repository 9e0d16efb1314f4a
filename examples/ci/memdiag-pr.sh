#!/usr/bin/env bash
# memdiag on a pull request: gate the PR's run folder against main's, report, comment.
#
#   memdiag-pr.sh RUN_DIR
#
# 1. baseline: the summary.json in the artifact of the last successful push run of this
#    workflow on the base branch (gh run list / gh run download); none yet is fine;
# 2. gate: `memdiag gate RUN_DIR [--baseline main/summary.json]` with the thresholds of
#    [tool.memdiag.gate] in pyproject.toml (or MEMDIAG_GATE_CONFIG); its Markdown verdict
#    is appended to $GITHUB_STEP_SUMMARY;
# 3. comment: one PR comment, found again by its hidden marker and edited in place, with
#    the verdict, the gate's checks and the report's headline table.
#
# Needs: memdiag, gh (GH_TOKEN), jq. Environment: GITHUB_REPOSITORY and PR_NUMBER
# (required); GITHUB_SERVER_URL, GITHUB_RUN_ID, GITHUB_WORKFLOW_REF, GITHUB_STEP_SUMMARY
# (set by Actions); MEMDIAG_WORKFLOW (default: this workflow's file), MEMDIAG_BASE_BRANCH
# (main), MEMDIAG_BASELINE_ARTIFACT (memdiag-baseline), MEMDIAG_RUN_ARTIFACT (the name
# the PR's run folder is uploaded under, for the comment's link), MEMDIAG_GATE_CONFIG,
# MEMDIAG_COMMENT_FILE (also write the comment there, e.g. to preview it locally).
#
# Exit code: memdiag gate's: 0 pass, 1 failed, 2 usage, 3 invalid run, 4 inconclusive.
# The comment is posted whatever the verdict; failing to post it (a fork's read-only
# token) is a warning, not a failure.
set -euo pipefail

run_dir=${1:?usage: memdiag-pr.sh RUN_DIR}
: "${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY (owner/name)}"
: "${PR_NUMBER:?set PR_NUMBER (the pull request number)}"
marker='<!-- memdiag -->'
base_branch=${MEMDIAG_BASE_BRANCH:-main}
artifact=${MEMDIAG_BASELINE_ARTIFACT:-memdiag-baseline}
workflow=${MEMDIAG_WORKFLOW:-}
if [ -z "$workflow" ] && [ -n "${GITHUB_WORKFLOW_REF:-}" ]; then
  # owner/repo/.github/workflows/memdiag.yml@refs/pull/7/merge -> memdiag.yml
  workflow=${GITHUB_WORKFLOW_REF%@*}
  workflow=${workflow##*/}
fi
workflow=${workflow:-memdiag.yml}
server=${GITHUB_SERVER_URL:-https://github.com}
run_url=""
if [ -n "${GITHUB_RUN_ID:-}" ]; then
  run_url="$server/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

baseline=""
baseline_run=""
fetch_baseline() {
  local id
  id=$(gh run list --workflow "$workflow" --branch "$base_branch" --event push \
    --status success --limit 1 --json databaseId --jq '.[0].databaseId // empty') || id=""
  if [ -z "$id" ]; then
    echo "memdiag-pr: no successful $workflow run on $base_branch yet: no baseline" >&2
    return 0
  fi
  if ! gh run download "$id" --name "$artifact" --dir "$work/baseline" >&2; then
    echo "memdiag-pr: run $id has no artifact $artifact: no baseline" >&2
    return 0
  fi
  if [ -f "$work/baseline/summary.json" ]; then
    baseline="$work/baseline/summary.json"
    baseline_run=$id
  else
    echo "memdiag-pr: artifact $artifact of run $id holds no summary.json: no baseline" >&2
  fi
}

gate_code=0
run_gate() {
  local args=("$run_dir")
  if [ -n "$baseline" ]; then args+=(--baseline "$baseline"); fi
  if [ -n "${MEMDIAG_GATE_CONFIG:-}" ]; then args+=(--config "$MEMDIAG_GATE_CONFIG"); fi
  # The gate writes its Markdown verdict where GITHUB_STEP_SUMMARY points: a file of our
  # own, so the same text goes to the job summary and into the comment.
  GITHUB_STEP_SUMMARY="$work/gate.md" memdiag gate "${args[@]}" >"$work/gate.txt" 2>&1 ||
    gate_code=$?
  cat "$work/gate.txt"
  if [ ! -s "$work/gate.md" ]; then
    # A usage error (no thresholds, no summary.json) writes no Markdown: say what it said.
    {
      echo "## memdiag gate: could not run (exit $gate_code)"
      echo
      echo '```'
      cat "$work/gate.txt"
      echo '```'
      echo
    } >"$work/gate.md"
  fi
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$work/gate.md" >>"$GITHUB_STEP_SUMMARY"
  fi
}

build_comment() {
  {
    echo "$marker"
    cat "$work/gate.md"
    if [ -f "$run_dir/report.md" ]; then
      # The report's headline table: from "## Headline" to the next section.
      echo "### Headline"
      awk '/^## Headline/ { on = 1; next } /^## / { on = 0 } on' "$run_dir/report.md"
    fi
    echo
    if [ -n "$baseline_run" ]; then
      echo "Baseline: \`summary.json\` of $base_branch's run [$baseline_run]($server/$GITHUB_REPOSITORY/actions/runs/$baseline_run)."
    else
      echo "No baseline yet: no successful \`$workflow\` run on $base_branch with an artifact \`$artifact\`; checks against it were skipped."
    fi
    if [ -n "$run_url" ]; then
      echo
      echo "Full report (\`report.html\`, raw data): artifact \`${MEMDIAG_RUN_ARTIFACT:-memdiag-run}\` of [this run]($run_url)."
    fi
  } >"$work/comment.md"
}

post_comment() {
  local id
  # Every comment on the PR (--paginate prints one JSON array per page); ours is the one
  # that carries the marker.
  id=$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" |
    jq -r --arg m "$marker" '.[] | select(.body | contains($m)) | .id' | head -n 1) || id=""
  if [ -n "$id" ]; then
    gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" \
      -F "body=@$work/comment.md" >/dev/null
    echo "memdiag-pr: updated comment $id on #$PR_NUMBER"
  else
    gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments" \
      -F "body=@$work/comment.md" >/dev/null
    echo "memdiag-pr: commented on #$PR_NUMBER"
  fi
}

fetch_baseline
run_gate
build_comment
if [ -n "${MEMDIAG_COMMENT_FILE:-}" ]; then cp "$work/comment.md" "$MEMDIAG_COMMENT_FILE"; fi
post_comment || echo "::warning::memdiag-pr: could not post the PR comment (a fork's token cannot write)"
exit "$gate_code"
