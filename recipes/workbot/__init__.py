"""Workbot: chat commands (Slack slash commands) that run Workbot recipes as the person who typed them.

- slack.py: what Slack sends (the signature over the raw body, the form) and how an answer is shaped;
- services.py: linking chat accounts to people (one-time codes, admins), and a command's job;
- replies.py: the job's answer, posted to Slack's response_url once it finishes (a Celery task, by job id);
- views.py: POST /workbot/slack/commands, and /workbot/link/ where a person links their chat account.
"""
