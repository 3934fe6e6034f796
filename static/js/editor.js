// Recipe editor: a data pill goes into the input of its step that was focused last (else the first one),
// at the cursor. No build step, no framework.
const lastInput = new WeakMap();

document.addEventListener("focusin", (event) => {
  const form = event.target.closest("form");
  if (form && event.target.matches("input[type=text], textarea")) lastInput.set(form, event.target);
});

document.addEventListener("click", (event) => {
  const pill = event.target.closest("button[data-pill]");
  if (!pill) return;
  event.preventDefault();
  const form = pill.closest("form");
  const input = lastInput.get(form) || form.querySelector("input[type=text], textarea");
  if (!input || input.disabled) return;
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? input.value.length;
  input.value = input.value.slice(0, start) + pill.dataset.pill + input.value.slice(end);
  input.focus();
  input.setSelectionRange(start + pill.dataset.pill.length, start + pill.dataset.pill.length);
});
