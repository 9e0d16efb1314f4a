"""soak: a mix of frontend tabs, dashboards and (with MEMDIAG_AUDIO_DIR) uploads, for
long runs that look for leaks.

Every stream keeps its own fixed total rate (--poll-rate, --list-rate, --upload-rate);
users are split 4:1 between tabs and dashboards (:1 uploaders when MEMDIAG_AUDIO_DIR is
set in the environment, since the user classes are fixed before options are parsed).

    locust -f loadtests/scenarios/soak.py --host http://127.0.0.1:8080 --headless \
        -u 25 -r 25 -t 30m --poll-rate 20 --list-rate 1 --warmup-s 60
"""

from __future__ import annotations

import dashboard
import frontend_tabs
from _memdiag import env_default, want

# Modules, not classes, are imported: Locust runs every User class in this namespace.
want("soak")


_UPLOADERS = 1 if env_default("audio_dir") else 0


class SoakTab(frontend_tabs.FrontendTab):
    weight = 4
    tab_share = 4 / (4 + 1 + _UPLOADERS)  # the tabs' share of the users sets their pace


class SoakDashboard(dashboard.DashboardUser):
    weight = 1


if _UPLOADERS:
    import uploads

    class SoakUploader(uploads.Uploader):
        weight = 1
