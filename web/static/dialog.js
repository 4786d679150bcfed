// The one confirmation dialog (<dialog id="confirm">): a title, the points to weigh, an
// optional data-loss warning, and up to three answers: cancel, the main action ("ok") and
// a risky override ("force"). Switching, ejecting, deleting and forcing all ask here.

const $ = (id) => document.getElementById(id);

/**
 * Ask; resolves to "cancel", "ok" or "force".
 *  - ``items``: lines to weigh (a list);
 *  - ``risk``: what the force (or a dangerous ok) can break, shown in a red box;
 *  - ``ok``: the main button's label (null: no main button);
 *  - ``okDanger``: the main button is itself destructive (red, and not focused first);
 *  - ``force``: the risky override's label (null: none).
 * While the dialog is open for another question the answer is "cancel" at once.
 */
export function ask({ title, items = [], risk = "", ok = "OK", okDanger = false, force = null }) {
  const dialog = $("confirm");
  if (dialog.open) return Promise.resolve("cancel");
  $("confirm-title").textContent = title;
  $("confirm-list").replaceChildren(...items.map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
  $("confirm-list").hidden = !items.length;
  const label = document.createElement("strong");
  label.textContent = "Risk of data loss: ";
  $("confirm-risk").replaceChildren(label, risk);
  $("confirm-risk").hidden = !risk;
  const okButton = $("confirm-ok");
  okButton.textContent = ok ?? "";
  okButton.hidden = !ok;
  okButton.className = okDanger ? "danger" : "primary";
  const forceButton = $("confirm-force");
  forceButton.textContent = force ?? "";
  forceButton.hidden = !force;
  dialog.returnValue = "cancel";
  dialog.showModal();
  // Enter must never pick the risky answer: focus the main action only when it is safe.
  (ok && !okDanger ? okButton : $("confirm-cancel")).focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue || "cancel"), { once: true });
  });
}
