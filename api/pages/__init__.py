"""Server-rendered pages (HTML): the candidate portal on its link (/c/{token}/...) and the staff
side (/staff/...). Thin over api/services, as the JSON routes are: forms are read into the same
`*Create` schemas the JSON API takes (api/pages/forms.py), so they have the same limits and, when
broken, the same errors, shown on the page."""
