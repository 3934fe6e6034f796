"""Demo CRM: a small app served by Splice itself under /demo-crm/ when SPLICE_DEMO_APP is on (`make run` turns
it on), so a new user can connect an app, test it, break it and watch the health checks find it, offline."""
