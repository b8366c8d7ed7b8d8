"""The staff console's web layer (issue 13).

For now it holds only ``static/``: the in-browser bundle verifier
(``verify.js``, an ES module with no build step) and its "verify a bundle
file" page (``verify.html``, ``verify-page.js``, ``verify.css``), served as
plain files under a strict Content-Security-Policy. See docs/console.md.
"""
