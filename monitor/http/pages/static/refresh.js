// Reload the page every data-refresh seconds, unless someone is typing in a form on it or a press
// banner is up (it is kept live by press.js; a reload would silence its sound).
(function () {
  var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!every) { return; }
  setInterval(function () {
    var el = document.activeElement;
    var typing = el && (el.tagName === "TEXTAREA" || el.tagName === "INPUT" || el.tagName === "SELECT");
    var filled = Array.prototype.some.call(document.querySelectorAll("textarea, input[type=text], input:not([type])"),
      function (f) { return f.value && f.value.length > 0; });
    var pressed = document.body.classList.contains("pressed");
    if (!typing && !filled && !pressed && !document.querySelector("details[open]")) { window.location.reload(); }
  }, every * 1000);
})();
