"""``python -m otel_chatbot`` runs the command line."""

import sys

from otel_chatbot.cli import main

sys.exit(main())
