// The storefront's page script. After every page it asks for the cart link and the API tokens, as Spree's front
// end does; on a product page, "Add to cart" adds the item with an XHR to Spree's storefront API and updates the
// cart badge.
(function () {
  'use strict';
  var orderToken = null;

  function loadCartLink() {
    fetch('/cart_link', { headers: { 'X-Requested-With': 'XMLHttpRequest' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        var slot = document.getElementById('link-to-cart');
        if (html && slot) { slot.innerHTML = html; }
      })
      .catch(function () {});
  }

  function updateCartBadge(count) {
    if (document.body.getAttribute('data-fault-cart-badge') === 'on') {
      // FAULT frontend.cart-badge: written as if every page had the badge, but an empty cart's link has none.
      document.getElementById('cart-count').textContent = String(count);
    } else {
      var badge = document.getElementById('cart-count');
      if (badge) { badge.textContent = String(count); } else { loadCartLink(); }
    }
  }

  function withOrderToken(then) {
    if (orderToken) { then(orderToken); return; }
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v2/storefront/cart');
    xhr.onload = function () {
      if (xhr.status !== 201) { return; }
      orderToken = JSON.parse(xhr.responseText).data.attributes.token;
      then(orderToken);
    };
    xhr.send();
  }

  function addToCart(form) {
    withOrderToken(function (token) {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/v2/storefront/cart/add_item');
      xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.setRequestHeader('X-Spree-Order-Token', token);
      xhr.onload = function () {
        if (xhr.status !== 200) { return; }
        var cart = JSON.parse(xhr.responseText).data.attributes;
        updateCartBadge(cart.item_count);
        var added = form.querySelector('.added');
        if (added) { added.textContent = 'Added: ' + cart.item_count + ' in your cart.'; }
      };
      var quantity = Number(form.elements.quantity.value) || 1;
      xhr.send(JSON.stringify({ variant_id: form.elements.variant_id.value, quantity: quantity }));
    });
  }

  loadCartLink();
  fetch('/api_tokens', { credentials: 'same-origin' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (tokens) { if (tokens && tokens.order_token) { orderToken = orderToken || tokens.order_token; } })
    .catch(function () {});
  var form = document.querySelector('form.add-to-cart');
  if (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      addToCart(form);
    });
  }
})();
