// Recipe editor: clicking a data pill inserts it into its input at the cursor. No build step, no framework.
document.addEventListener("click", (event) => {
  const pill = event.target.closest("button[data-pill]");
  if (!pill) return;
  event.preventDefault();
  const input = document.getElementById(pill.dataset.target);
  if (!input || input.disabled) return;
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? input.value.length;
  input.value = input.value.slice(0, start) + pill.dataset.pill + input.value.slice(end);
  input.focus();
  input.setSelectionRange(start + pill.dataset.pill.length, start + pill.dataset.pill.length);
});
