"""``python -m kpi_rules`` runs the command line."""

from kpi_rules.cli import main

raise SystemExit(main())
