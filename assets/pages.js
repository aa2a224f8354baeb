// Atelier share pages: the little that needs a script. The pages work without it.
//
// - Owner controls. When the studio saves a result it keeps the result's owner key in this
//   browser's localStorage under `atelier.owner.<id>`. If this page's result has one, the
//   Publish / Make unlisted / Delete controls appear. The key only ever travels to this site,
//   in the X-Owner-Token header of a POST, never in a URL.
// - A Copy button beside the share link.
"use strict";

(function () {
  const result = document.querySelector("[data-result-id]");
  const owner = document.getElementById("owner");
  if (result && owner) setUpOwner(result, owner);

  const copy = document.getElementById("copy-link");
  const url = document.getElementById("share-url");
  if (copy && url) setUpCopy(copy, url);
})();

function ownerKey(id) {
  try {
    return window.localStorage.getItem("atelier.owner." + id);
  } catch (e) {
    return null; // storage disabled: nobody is the owner here
  }
}

function setUpOwner(result, owner) {
  const id = result.dataset.resultId;
  const token = ownerKey(id);
  if (!token) return;
  const status = owner.querySelector(".owner-status");
  const button = (action) => owner.querySelector(`[data-action="${action}"]`);

  function show(published) {
    result.dataset.published = published ? "true" : "false";
    button("publish").hidden = published;
    button("unpublish").hidden = !published;
    const badge = document.getElementById("visibility");
    if (badge) badge.textContent = published ? "In the gallery" : "Unlisted";
  }

  async function post(action) {
    owner.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(`/r/${encodeURIComponent(id)}/${action}`, {
        method: "POST",
        headers: { "X-Owner-Token": token },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        const message = (body.error && body.error.message) || `That didn't work (error ${response.status}).`;
        return { ok: false, message };
      }
      return { ok: true, body };
    } catch (e) {
      return { ok: false, message: "Couldn't reach Atelier. Check your connection and try again." };
    } finally {
      owner.removeAttribute("aria-busy");
    }
  }

  async function setPublished(published) {
    status.textContent = published ? "Publishing…" : "Making it unlisted…";
    const outcome = await post(published ? "publish" : "unpublish");
    if (!outcome.ok) {
      status.textContent = outcome.message;
      return;
    }
    show(outcome.body.published);
    status.textContent = outcome.body.waiting_for_review
      ? "Published: it joins the gallery once the owner of this site approves it."
      : outcome.body.published
        ? "Published: it is in the gallery now."
        : "Unlisted: only people with the link can see it.";
  }

  // Deleting asks twice, in place: a second press within a few seconds confirms.
  let armed = null;
  async function remove() {
    const del = button("delete");
    if (!armed) {
      del.textContent = "Press again to delete";
      status.textContent = "Deleting can't be undone: the link stops working for everyone.";
      armed = setTimeout(() => {
        armed = null;
        del.textContent = "Delete";
        status.textContent = "";
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    status.textContent = "Deleting…";
    const outcome = await post("delete");
    if (!outcome.ok) {
      del.textContent = "Delete";
      status.textContent = outcome.message;
      return;
    }
    try {
      window.localStorage.removeItem("atelier.owner." + id);
    } catch (e) {
      /* nothing to clean up */
    }
    const gone = document.createElement("div");
    gone.className = "problem";
    gone.innerHTML =
      "<h1>Deleted</h1><p>This result is gone, and its link no longer works.</p>" +
      '<p><a class="button primary" href="/">Make something new</a> <a class="button" href="/gallery">Browse the gallery</a></p>';
    result.replaceWith(gone);
  }

  button("publish").addEventListener("click", () => setPublished(true));
  button("unpublish").addEventListener("click", () => setPublished(false));
  button("delete").addEventListener("click", remove);
  show(result.dataset.published === "true");
  owner.hidden = false;
}

function setUpCopy(copy, url) {
  copy.hidden = false;
  copy.addEventListener("click", async () => {
    url.select();
    try {
      await navigator.clipboard.writeText(url.value);
      copy.textContent = "Copied";
    } catch (e) {
      copy.textContent = "Press Ctrl+C"; // no clipboard access (plain http): the text is selected
    }
    setTimeout(() => (copy.textContent = "Copy"), 2000);
  });
}
