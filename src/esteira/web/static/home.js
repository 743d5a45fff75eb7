// Sort headers and pager links set the filter form's hidden fields and ask htmx for
// the table again (without JavaScript they are plain links with the same query).
document.addEventListener("click", (event) => {
  const link = event.target.closest("[data-sort], [data-page]");
  if (!link) return;
  event.preventDefault();
  const set = (id, value) => { document.getElementById(id).value = value; };
  if (link.dataset.sort) { set("sort", link.dataset.sort); set("order", link.dataset.order); set("page", 1); }
  if (link.dataset.page) set("page", link.dataset.page);
  htmx.trigger("#filters", "submit");
});
document.getElementById("q").addEventListener("input", () => { document.getElementById("page").value = 1; });
