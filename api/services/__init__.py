"""What the JSON API (api/routes/) and the pages (api/pages/) both do: who may see what, the
application as staff receive it, the actions they take, and the candidate's view and actions."""
