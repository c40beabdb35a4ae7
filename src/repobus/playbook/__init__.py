"""The playbook's discipline over the bus: identity, the session boot and guard, the task
queue, inboxes, plans, receipts, memory, agent branches, PRs, heartbeat, the manager report,
the pre-push hook and the `tools/agent` shims."""
